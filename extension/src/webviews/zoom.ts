// A zoomed chart's request (`zoomSeries` from a details or compare page): each run's
// step range read again from the server (`runyard/metrics/series` with stepFrom and
// stepTo), answered as one `zoomedSeries` carrying the page's zoom number back.
import type { ServerApi } from "../api";
import { METRICS_SERIES, type MetricSeries } from "../protocol";
import type { HostMessage, WebviewMessage } from "../../webview/messages";

type ZoomRequest = Extract<WebviewMessage, { type: "zoomSeries" }>;

/** The answer to `m` for the runs `shown` (ranges of other runs are ignored): each
 * run's series in its range, cut to at most `maxPoints` points. */
export async function zoomedSeries(
  api: ServerApi,
  project: string,
  m: ZoomRequest,
  shown: ReadonlySet<string>,
  maxPoints: number,
): Promise<HostMessage> {
  const asked = m.ranges.filter((r) => shown.has(r.runId));
  const answers = await Promise.all(
    asked.map((r) =>
      api.request(METRICS_SERIES, {
        project,
        runIds: [r.runId],
        keys: [m.key],
        maxPoints,
        stepFrom: r.stepFrom,
        stepTo: r.stepTo,
      }),
    ),
  );
  const series: MetricSeries[] = answers.flatMap((a) => a.series);
  return { type: "zoomedSeries", key: m.key, zoom: m.zoom, series };
}
