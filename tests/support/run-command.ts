import { execFile } from "node:child_process";
import { promisify } from "node:util";

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its exit; a non-zero exit is a result, a command that does not exit by itself is an error. */
export async function runCommand(
  file: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, {
      cwd: options.cwd,
      env: options.env,
      timeout: options.timeoutMs ?? 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: unknown; signal?: unknown; stdout?: string; stderr?: string };
    if (typeof failure.code !== "number") {
      throw new Error(
        `${file} ${args.join(" ")} did not exit by itself (code ${String(failure.code)}, signal ${String(failure.signal)})\n${failure.stderr ?? ""}`,
        { cause: error },
      );
    }
    return { code: failure.code, stdout: failure.stdout ?? "", stderr: failure.stderr ?? "" };
  }
}
