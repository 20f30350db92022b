"""A failed run's reason quotes the last line of its log (`supervisor.last_log_line`):
the script's own last words, not Runyard's lines and not a JVM's INFO chatter after
them (a Spark driver says a dozen shutdown lines after the script's traceback)."""

from __future__ import annotations

from pathlib import Path

from runyard.runner.supervisor import last_log_line

# the end of a real Spark (local[1]) run's log whose script raised
SPARK_TAIL = """\
Traceback (most recent call last):
  File "/tmp/p/.runyard/state/runs/261207-044641-8b9c43/work/fail.py", line 4, in <module>
    raise ValueError("boom in the script")
ValueError: boom in the script
26/12/07 04:47:05 INFO SparkContext: Invoking stop() from shutdown hook
26/12/07 04:47:05 INFO SparkContext: SparkContext is stopping with exitCode 0 from run at Executors.java:539.
26/12/07 04:47:05 INFO SparkUI: Stopped Spark web UI at http://192.0.2.2:4040
26/12/07 04:47:06 INFO MemoryStore: MemoryStore cleared
26/12/07 04:47:06 INFO BlockManager: BlockManager stopped
26/12/07 04:47:06 INFO SparkContext: Successfully stopped SparkContext (Uptime: 16782 ms)
26/12/07 04:47:06 INFO ShutdownHookManager: Shutdown hook called
"""


def test_a_spark_script_s_failure_is_its_traceback_s_last_line_not_the_jvm_s_shutdown(
    tmp_path: Path,
) -> None:
    log = tmp_path / "run.log"
    log.write_text("[runyard] environment abc (cached)\n" + SPARK_TAIL + "[runyard] exit 1\n")
    assert last_log_line(log) == "ValueError: boom in the script"


def test_a_jvm_s_warnings_and_errors_still_count_and_chatter_alone_is_kept(
    tmp_path: Path,
) -> None:
    log = tmp_path / "run.log"
    log.write_text(
        "starting\n26/12/07 04:47:06 ERROR Executor: Exception in task 0.0\n"
        "26/12/07 04:47:06 INFO SparkContext: Successfully stopped SparkContext\n"
    )
    assert last_log_line(log) == "26/12/07 04:47:06 ERROR Executor: Exception in task 0.0"
    log.write_text("26/12/07 04:47:06 INFO SparkContext: Successfully stopped SparkContext\n")
    assert (
        last_log_line(log)
        == "26/12/07 04:47:06 INFO SparkContext: Successfully stopped SparkContext"
    )
    log.write_text("[runyard] only ours\n\n")
    assert last_log_line(log) is None
    assert last_log_line(tmp_path / "missing.log") is None
