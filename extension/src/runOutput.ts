// One output channel per run, named "Runyard run <id>": the log so far (runs/logs),
// then live lines from runs/logLines pushes. When a run ends the channel says how,
// and a failed run says why with the last lines of its log.
import * as vscode from "vscode";
import { asRunyardError, type RunyardClient } from "./client";
import { isActive, lastLines, mergeLogChunk } from "./format";
import { samePath } from "./projects";
import { LOG_LINES, type LogLinesNotification, RUN_CHANGED, RUNS_LOGS, type RunInfo } from "./protocol";

interface Follow {
  project: string;
  runId: string;
  channel: vscode.OutputChannel;
  shown: number;
  loading: Promise<void> | null;
  pending: LogLinesNotification[];
  ended: boolean;
  tail: string;
}

export function channelName(runId: string): string {
  return `Runyard run ${runId}`;
}

export class RunOutputs implements vscode.Disposable {
  private readonly follows = new Map<string, Follow>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly client: RunyardClient) {
    this.subscriptions.push(
      client.onNotification(LOG_LINES, (n) => {
        const f = this.follows.get(n.runId);
        if (!f || !samePath(f.project, n.project)) return;
        if (f.loading) f.pending.push(n);
        else this.apply(f, n);
      }),
      client.onNotification(RUN_CHANGED, (n) => {
        const f = this.follows.get(n.run.id);
        if (f && !f.ended && !isActive(n.run.status)) void this.finish(f, n.run);
      }),
    );
  }

  /** Show (creating if needed) the run's channel. */
  show(project: string, runId: string, preserveFocus = true): void {
    let f = this.follows.get(runId);
    if (!f) {
      f = {
        project,
        runId,
        channel: vscode.window.createOutputChannel(channelName(runId)),
        shown: 0,
        loading: null,
        pending: [],
        ended: false,
        tail: "",
      };
      this.follows.set(runId, f);
      f.loading = this.catchUp(f);
    }
    f.channel.show(preserveFocus);
  }

  private async catchUp(f: Follow): Promise<void> {
    try {
      for (;;) {
        const r = await this.client.request(RUNS_LOGS, { project: f.project, runId: f.runId, offset: f.shown });
        this.write(f, r.text);
        f.shown = r.nextOffset;
        if (r.nextOffset === r.offset || r.complete) {
          if (r.complete) f.ended = true;
          break;
        }
      }
    } catch (err) {
      f.channel.appendLine(`[runyard] could not read the log: ${asRunyardError(err).withHint}`);
    } finally {
      f.loading = null;
      const pending = f.pending.splice(0);
      for (const n of pending) this.apply(f, n);
    }
  }

  private apply(f: Follow, n: LogLinesNotification): void {
    const merged = mergeLogChunk(f.shown, n);
    if ("gap" in merged) {
      f.pending.push(n);
      if (!f.loading) f.loading = this.catchUp(f);
      return;
    }
    this.write(f, merged.append);
    f.shown = merged.next;
  }

  private write(f: Follow, text: string): void {
    if (!text) return;
    f.channel.append(text);
    f.tail = (f.tail + text).slice(-8192);
  }

  private async finish(f: Follow, run: RunInfo): Promise<void> {
    if (f.loading) await f.loading;
    // The rest of the log, which may have landed after the last push.
    f.loading = this.catchUp(f);
    await f.loading;
    f.ended = true;
    const how = `run ${run.status}${run.exitCode !== null && run.exitCode !== undefined ? ` (exit code ${run.exitCode})` : ""}`;
    f.channel.appendLine(`\n[runyard] ${how}${run.reason ? `: ${run.reason}` : ""}`);
    if (run.status === "failed" || run.status === "lost") {
      const tail = lastLines(f.tail, 5);
      const detail = run.reason ?? tail[tail.length - 1] ?? "no reason recorded";
      void vscode.window
        .showErrorMessage(`Run ${run.id} ${run.status}: ${detail}`, "Show Logs", "Open Run Details")
        .then((pick) => {
          if (pick === "Show Logs") f.channel.show(false);
          else if (pick === "Open Run Details") {
            void vscode.commands.executeCommand("runyard.openRun", { kind: "run", project: f.project, run });
          }
        });
    }
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    for (const f of this.follows.values()) f.channel.dispose();
    this.follows.clear();
  }
}
