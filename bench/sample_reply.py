"""Record one real reply: start the HTTP bot against the fake Slack, send `/milvus slow prod-eu 30m`,
and save what Slack would have received under bench/out/ (summary + details blocks JSON, chart PNG).

    python3 bench/sample_reply.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.slack import FakeSlack, slash_command_body  # noqa: E402
from tests.slack_support.botserver import bot_config, start_bot, stop_bot, write_slow_log  # noqa: E402


def main() -> int:
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    fake = FakeSlack()
    with tempfile.TemporaryDirectory() as tmp:
        write_slow_log(Path(tmp) / "proxy.log")
        bot = start_bot(fake, bot_config(str(Path(tmp) / "*.log")))
        try:
            bot.command(slash_command_body("slow prod-eu 30m", response_url=fake.response_url()))
            summary = fake.wait_for("chat.postMessage", where=lambda c: "thread_ts" not in c.params)[0]
            ts = fake.reply_of(summary)["ts"]
            details = fake.wait_for("chat.postMessage", where=lambda c: c.params.get("thread_ts") == ts)[0]
            fake.wait_for("files.completeUploadExternal")
            png = fake.of("upload")[0].body
        finally:
            stop_bot(bot)
            fake.close()
    (out / "reply-summary.json").write_text(json.dumps(
        {"channel": summary.params["channel"], "text": summary.params["text"], "blocks": summary.params["blocks"]},
        indent=2, ensure_ascii=False))
    (out / "reply-details.json").write_text(json.dumps(
        {"thread_ts": details.params["thread_ts"], "text": details.params["text"],
         "blocks": details.params["blocks"]}, indent=2, ensure_ascii=False))
    (out / "chart.png").write_bytes(png)
    # with Prometheus down the top panel is empty; this one shows all phases + dashed baselines
    from bot.charts import render_chart
    from tests.slack_support.diagnoses import make_diagnosis

    (out / "chart-phases.png").write_bytes(render_chart(make_diagnosis()) or b"")
    print(f"wrote {out}/reply-summary.json, reply-details.json, chart.png ({len(png):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
