// Starts the Runyard language server with the Python that findPython() picks, and
// offers typed requests and pushes (ServerApi) to the rest of the extension. The
// server comes from the extension's own bundled/ folder (a packaged .vsix); in a
// development checkout without it, from `python -m runyard.lsp`.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  LanguageClient,
  type LanguageClientOptions,
  RevealOutputChannelOn,
  type ServerOptions,
  State,
  Trace,
} from "vscode-languageclient/node";
import type { ServerApi } from "./api";
import { asRunyardError, RunyardError } from "./errors";
import { findPython, PythonNotFound } from "./python";
import type { Notifications, Requests } from "./protocol";

export { asRunyardError, RunyardError };

export type ServerState = "stopped" | "starting" | "ready" | "failed";

type Handler = (params: unknown) => void;

export class RunyardClient implements ServerApi, vscode.Disposable {
  private client: LanguageClient | undefined;
  /** The server's process, started by doStart (the client is handed it). */
  private process: ChildProcess | undefined;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly stateEmitter = new vscode.EventEmitter<ServerState>();
  readonly onDidChangeState = this.stateEmitter.event;
  private _state: ServerState = "stopped";
  private readyPromise: Promise<void> | undefined;
  /** When the last start took, ms (activation benchmark). */
  startMs: number | null = null;
  /** The Python the server runs with, once found. */
  python: string | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
  ) {}

  get state(): ServerState {
    return this._state;
  }

  private setState(state: ServerState): void {
    this._state = state;
    this.stateEmitter.fire(state);
  }

  /** Resolves once the server answers; rejects with the reason it could not start. */
  whenReady(): Promise<void> {
    return this.readyPromise ?? Promise.reject(new Error("The Runyard server is not running."));
  }

  start(): Promise<void> {
    this.readyPromise = this.doStart();
    // Callers that do not wait still see failures in the state and the log.
    this.readyPromise.catch(() => undefined);
    return this.readyPromise;
  }

  private async doStart(): Promise<void> {
    const t0 = Date.now();
    this.setState("starting");
    let python;
    try {
      python = await findPython(this.context.globalState);
    } catch (err) {
      this.setState("failed");
      if (err instanceof PythonNotFound) {
        for (const t of err.tried) this.log.error(`Python candidate: ${t}`);
      }
      this.reportStartFailure(err instanceof Error ? err.message : String(err));
      throw err;
    }
    this.python = python.command;
    const bundled = path.join(this.context.extensionPath, "bundled", "runyard_server.py");
    const args = existsSync(bundled) ? [bundled] : ["-m", "runyard.lsp"];
    // The process starts now, before the language client is even made: its imports
    // (most of its start) overlap with setting up the client. It reads `initialize`
    // from stdin once it is ready; what it writes before the client listens is kept.
    // A restart by the client (after a crash) starts a new one.
    let first: Promise<ChildProcess> | undefined = this.spawn(python.command, args);
    this.log.info(`Starting the Runyard server with ${python.command} (Python ${python.version}, from ${python.source})`);
    const serverOptions: ServerOptions = () => {
      const started = first ?? this.spawn(python.command, args);
      first = undefined;
      return started;
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: "file", language: "python" },
        { scheme: "file", language: "yaml", pattern: "**/.runyard/**/*.yml" },
        { scheme: "file", language: "yaml", pattern: "**/.runyard/**/*.yaml" },
      ],
      outputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationFailedHandler: (error) => {
        this.log.error(`The Runyard server failed to initialize: ${String(error)}`);
        return false;
      },
    };
    const client = new LanguageClient("runyard", "Runyard", serverOptions, clientOptions);
    this.client = client;
    client.onDidChangeState((e) => {
      if (e.newState === State.Stopped && this.client === client && this._state === "ready") {
        this.setState("failed");
        this.reportStartFailure("The Runyard server stopped.");
      }
    });
    for (const [method, set] of this.handlers) {
      client.onNotification(method, (params: unknown) => {
        for (const h of set) h(params);
      });
    }
    try {
      await client.start();
      const trace = vscode.workspace.getConfiguration("runyard").get<string>("trace.server", "off");
      await client.setTrace(Trace.fromString(trace));
    } catch (err) {
      if (this.process) endSoon(this.process);
      this.setState("failed");
      this.reportStartFailure(
        `The Runyard server did not start with ${python.command}: ${err instanceof Error ? err.message : String(err)}`,
      );
      throw err;
    }
    this.startMs = Date.now() - t0;
    this.log.info(`Runyard server ready in ${this.startMs} ms`);
    this.setState("ready");
  }

  private spawn(command: string, args: string[]): Promise<ChildProcess> {
    const spawned = spawnServer(command, args);
    this.process = spawned.process;
    return spawned.started;
  }

  private reportStartFailure(message: string): void {
    this.log.error(message);
    void vscode.window.showErrorMessage(message, "Show Logs", "Restart Server").then((pick) => {
      if (pick === "Show Logs") this.log.show();
      else if (pick === "Restart Server") void vscode.commands.executeCommand("runyard.restartServer");
    });
  }

  /**
   * How to run the `runyard` command line with the server's Python: from the bundled
   * libraries in a packaged extension, else from the Python's own installation.
   */
  cliCommand(): { command: string; args: string[]; env: Record<string, string> } | undefined {
    if (!this.python) return undefined;
    const libs = path.join(this.context.extensionPath, "bundled", "libs");
    const env: Record<string, string> = {};
    if (existsSync(libs)) {
      env.PYTHONPATH = [libs, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter);
      env.RUNYARD_BUNDLED_LIBS = libs;
    }
    return { command: this.python, args: ["-m", "runyard.cli"], env };
  }

  async stop(): Promise<void> {
    const client = this.client;
    const child = this.process;
    this.client = undefined;
    this.process = undefined;
    this.readyPromise = undefined;
    this.setState("stopped");
    if (client) {
      try {
        await client.stop(5000);
      } catch (err) {
        this.log.warn(`Stopping the server: ${String(err)}`);
      }
    }
    // The client ends a process it started itself; this one it was handed, so a
    // server that did not exit after shutdown and exit is ended here.
    if (child) endSoon(child);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async request<M extends keyof Requests>(method: M, params: Requests[M][0]): Promise<Requests[M][1]> {
    await this.whenReady();
    const client = this.client;
    if (!client) throw new RunyardError("The Runyard server is not running.", null, null);
    try {
      return await client.sendRequest<Requests[M][1]>(method, params);
    } catch (err) {
      throw asRunyardError(err);
    }
  }

  onNotification<M extends keyof Notifications>(
    method: M,
    handler: (params: Notifications[M]) => void,
  ): vscode.Disposable {
    let set = this.handlers.get(method);
    if (!set) {
      set = new Set();
      this.handlers.set(method, set);
      // A client already running learns of the new method too.
      const client = this.client;
      const current = set;
      client?.onNotification(method, (params: unknown) => {
        for (const h of current) h(params);
      });
    }
    const h = handler as Handler;
    set.add(h);
    return new vscode.Disposable(() => set?.delete(h));
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
  }
}

/**
 * Starts `command args` (the server) with piped stdio. `started` resolves with the
 * process once it is running and rejects if it could not be started (a missing
 * executable), as the language client would had it started the process itself.
 */
function spawnServer(command: string, args: string[]): { process: ChildProcess; started: Promise<ChildProcess> } {
  const child = spawn(command, args, {
    cwd: workingDir(),
    env: {
      ...process.env,
      PYTHONUNBUFFERED: "1",
      // runyard.lsp.warm: the server forked from a warm one unless the setting is off
      ...(vscode.workspace.getConfiguration("runyard").get<boolean>("server.warmStart", true)
        ? {}
        : { RUNYARD_SERVER_WARM: "0" }),
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const started = new Promise<ChildProcess>((resolve, reject) => {
    child.once("spawn", () => resolve(child));
    // kept for the process's life: an 'error' event nobody listens to would throw
    child.on("error", (err) => reject(new Error(`Launching the server with ${command} failed: ${err.message}`)));
  });
  started.catch(() => undefined); // the client reports it
  return { process: child, started };
}

/** Where the server runs: the first workspace folder, as the language client would start it. */
function workingDir(): string | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (folder?.uri.scheme !== "file") return undefined;
  try {
    return statSync(folder.uri.fsPath).isDirectory() ? folder.uri.fsPath : undefined;
  } catch {
    return undefined;
  }
}

/** Ends `child` if it has not exited within 2 s. */
function endSoon(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  }, 2000);
  child.once("exit", () => clearTimeout(timer));
}
