"""The snippet a source page offers for sending a test event: curl for the collect webhooks and links, a Segment
SDK call for tracking sources, the sync command for cloud apps. Secrets are never printed: the snippet names the
environment variable to put them in."""

from __future__ import annotations

import shlex

from engine.config import PullSource, RedirectSource, TrackingSource, WebhookSource


def for_source(source, base_url: str) -> dict:
    """`{"title", "code"}` for a configured source; `base_url` is where this server is reached."""
    sid = source.id
    if isinstance(source, WebhookSource):
        auth = " \\\n     -H \"Authorization: Bearer $WEBHOOK_SECRET\"" if source.secret is not None else ""
        url = shlex.quote(f"{base_url}/collect/console-test/{sid}/test-visitor")
        return {"title": "Send a test event with curl", "code":
                f"curl -X POST {url}{auth} \\\n     -H 'Content-Type: application/json' \\\n"
                "     -d '{\"path\": \"/pricing\", \"sent_from\": \"the console\"}'"}
    if isinstance(source, TrackingSource):
        return {"title": "Send a test event with a Segment SDK (Python: pip install segment-analytics-python)",
                "code": "import os\nfrom segment.analytics import Client\n\n"
                        f"client = Client(os.environ[\"WRITE_KEY\"], host={base_url!r})  # the source's write_key\n"
                        "client.track(anonymous_id=\"test-visitor\", event=\"Console Test\", "
                        "properties={\"sent_from\": \"the console\"})\nclient.flush()"}
    if isinstance(source, RedirectSource):
        link = next(iter(source.links), None)
        if link is None:
            return {"title": "Open the tracking pixel", "code": f"curl -o /dev/null "
                    f"{shlex.quote(f'{base_url}/pixel/email-open/{sid}/test-visitor.gif?test=1')}"}
        return {"title": "Follow a link", "code": f"curl -i {shlex.quote(f'{base_url}/r/{sid}/{link}/test-visitor')}"}
    if isinstance(source, PullSource):
        return {"title": "Sync it now", "code": f"inlet sync {shlex.quote(sid)}"}
    return {"title": "", "code": ""}
