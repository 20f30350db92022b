// Errors of requests to the Runyard server, as the extension shows them: the server's
// message and its hint apart (kept free of the vscode module, for the unit tests).

/** A request error with the server's hint (data.hint) when it sent one. */
export class RunyardError extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    readonly hint: string | null,
  ) {
    super(message);
  }

  /** The message and, when there is one, the hint: for a line in a view or a log. */
  get withHint(): string {
    return this.hint ? `${this.message} Next: ${this.hint}` : this.message;
  }
}

/**
 * Any error as a RunyardError. A JSON-RPC error from the server carries its message
 * with " Next: <hint>" appended, for clients that show only the message, and both parts
 * apart in `data`: the parts are taken, so the hint is not shown twice.
 */
export function asRunyardError(err: unknown): RunyardError {
  if (err instanceof RunyardError) return err;
  const rpc = err as { code?: unknown; data?: unknown };
  if (err instanceof Error && typeof rpc.code === "number") {
    const code = rpc.code;
    const data = rpc.data as { message?: unknown; hint?: unknown } | null | undefined;
    const hint = data && typeof data.hint === "string" && data.hint ? data.hint : null;
    const message = data && typeof data.message === "string" && data.message ? data.message : err.message;
    return new RunyardError(message, code, hint);
  }
  return new RunyardError(err instanceof Error ? err.message : String(err), null, null);
}
