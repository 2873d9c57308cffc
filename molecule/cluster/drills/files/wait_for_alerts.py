#!/usr/bin/env python3
"""Wait until alerts fire (or resolve) in Prometheus and Alertmanager.

    wait_for_alerts.py PROMETHEUS_URL ALERTMANAGER_URL firing|resolved TIMEOUT EXPECTED_JSON

EXPECTED_JSON is a list of label sets; an alert matches one when its labels
include every label of the set. "firing": each set matches an alert that is
firing in Prometheus (/api/v1/alerts) and an alert Alertmanager holds
(/api/v2/alerts). "resolved": none matches in either any more. Prints one
JSON line with the seconds each side took; exits 1 on timeout, naming what
was still missing (or still there) and what the two APIs returned.
"""

import json
import sys
import time
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def matches(labels, wanted):
    return all(labels.get(k) == v for k, v in wanted.items())


def main():
    prometheus, alertmanager, mode, timeout, expected = sys.argv[1:6]
    expected = json.loads(expected)
    start = time.monotonic()
    deadline = start + float(timeout)
    seen = {}
    while True:
        try:
            firing = [a["labels"] for a in get(f"{prometheus}/api/v1/alerts")["data"]["alerts"] if a["state"] == "firing"]
            held = [a["labels"] for a in get(f"{alertmanager}/api/v2/alerts")]
        except OSError as error:
            firing = held = None
            print(f"not answering yet: {error}", file=sys.stderr)
        if firing is not None:
            for side, alerts in (("prometheus", firing), ("alertmanager", held)):
                found = all(any(matches(a, w) for a in alerts) for w in expected)
                gone = not any(matches(a, w) for a in alerts for w in expected)
                if side not in seen and (found if mode == "firing" else gone):
                    seen[side] = round(time.monotonic() - start, 1)
            if len(seen) == 2:
                print(json.dumps({"mode": mode, "seconds": seen}))
                return 0
        if time.monotonic() > deadline:
            print(json.dumps({"mode": mode, "timeout": float(timeout), "done": seen, "expected": expected,
                              "prometheus_firing": firing, "alertmanager": held}))
            return 1
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
