// Who ran what and where runs are kept, as the views say it: pure text, no `vscode`
// (node-tested in extension/test/teamStore.test.ts), shared by the Runs view and the
// runs table's user column. `targetTooltip` is the status bar's tooltip, from the
// server's `ProjectInfo.store`.
import type { RunInfo } from "./protocol";

/** Who ran a run, as the user column shows it (as `runyard runs list` does): the git
 * email, else the name, else null (not recorded). */
export function runUser(run: Pick<RunInfo, "userName" | "userEmail">): string | null {
  return run.userEmail || run.userName || null;
}

/** Who ran a run and where, in full (a tooltip): "Ada <ada@example.com> on ada-laptop";
 * null when none of it was recorded. */
export function whoRan(run: Pick<RunInfo, "userName" | "userEmail" | "machine">): string | null {
  const who = run.userName && run.userEmail ? `${run.userName} <${run.userEmail}>` : runUser(run);
  if (who && run.machine) return `${who} on ${run.machine}`;
  return who ?? (run.machine ? `on ${run.machine}` : null);
}

/** Whether runs name more than one user: then the runs of several people meet (a team
 * store) and the Runs view says whose each run is. */
export function severalUsers(runs: Iterable<Pick<RunInfo, "userName" | "userEmail">>): boolean {
  let first: string | null = null;
  for (const run of runs) {
    const user = runUser(run);
    if (user === null) continue;
    if (first === null) first = user;
    else if (user !== first) return true;
  }
  return false;
}

/** Whether a store, as the server shows it (`ProjectInfo.store`), is a team's (PostgreSQL):
 * there the runs of several people meet, so the Runs view says whose each run is. */
export function isTeamStore(store: string | null | undefined): boolean {
  return /^postgres(ql)?:/i.test(store ?? "");
}

/** The status bar item's tooltip: where runs go, and where they are kept. `store` is
 * `ProjectInfo.store`: a team store's URL without its password (as the server shows it),
 * or absent for the project's own SQLite file under `root`. */
export function targetTooltip(target: string | null | undefined, root: string, store: string | null | undefined): string {
  const runs = `Runyard: runs go to ${target ?? "(no default target)"}. Click to change.`;
  if (!store) return `${runs}\nRun store: ${root.replace(/[\\/]+$/, "")}/.runyard/state/runyard.db (SQLite, this project's own)`;
  return `${runs}\nRun store: ${isTeamStore(store) ? `${store} (team store, PostgreSQL)` : store}`;
}
