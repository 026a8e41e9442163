/**
 * Group commit for limit checks: a call made while none is in flight goes out
 * at once; calls made meanwhile wait for it and then go out together in one
 * round trip. Under load every attempt of a limited task would otherwise cost
 * its own round trip and commit, serialised per task (bench: the `limits`
 * workload). A failed batch fails each of its calls.
 */
export class Batcher<Request, Result> {
  private queue: { request: Request; resolve: (r: Result) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    private readonly send: (requests: readonly Request[]) => Promise<readonly Result[]>,
    private readonly maxBatch = 256,
  ) {}

  call(request: Request): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.send(batch.map((b) => b.request));
        batch.forEach((b, i) => b.resolve(results[i]!));
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
    this.flushing = false;
  }
}
