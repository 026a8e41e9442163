/**
 * The signal a handler gets. It aborts when the engine's signal does (drain
 * budget spent at shutdown), when pgmill aborts the attempt (second signal),
 * or when the task's timeout passes. One controller that follows the engine's
 * signal, rather than `AbortSignal.any` per attempt: that was about a tenth of
 * a busy daemon's CPU (bench/README.md).
 */
export interface AttemptSignal {
  readonly signal: AbortSignal;
  /** True when the timeout, not a shutdown, aborted the attempt. */
  readonly timedOut: boolean;
  /** Stops following the engine's signal and the timer; call once the handler settled. */
  dispose(): void;
}

export function attemptSignal(controller: AbortController, engineSignal: AbortSignal, timeoutMs?: number): AttemptSignal {
  let timedOut = false;
  const onEngineAbort = () => controller.abort(engineSignal.reason);
  if (engineSignal.aborted) onEngineAbort();
  else engineSignal.addEventListener("abort", onEngineAbort, { once: true });
  const timer = timeoutMs
    ? setTimeout(() => {
        if (controller.signal.aborted) return;
        timedOut = true;
        controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
      }, timeoutMs)
    : undefined;
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    dispose() {
      clearTimeout(timer);
      engineSignal.removeEventListener("abort", onEngineAbort);
    },
  };
}
