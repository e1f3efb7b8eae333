#!/usr/bin/python3
"""serve_event_to_page.py PORT TITLE_IDS N: time from sending a play event to receiving the
homepage that shows it in Continue Watching (keep-alive connection, one request at a time).
Prints the median and p99 in milliseconds, and the same for a plain homepage request."""
import http.client, json, sys, time

port, titles, n = int(sys.argv[1]), sys.argv[2].split(","), int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
lat, page_only, missing = [], [], 0
for i in range(n):
    member, title = "e2p-%d-%d" % (int(time.time()), i), titles[i % len(titles)]
    body = json.dumps({"member": member, "title": title, "event": "play", "value": 60,
                       "timestamp": 1700000000 + i})
    t0 = time.perf_counter()
    c.request("POST", "/v1/events", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
    c.request("GET", "/v1/members/%s/homepage?rows=20&per_row=40" % member)
    r = c.getresponse(); page = json.loads(r.read())
    t1 = time.perf_counter()
    rows = page["rows"]
    if not rows or rows[0]["id"] != "continue_watching" or rows[0]["titles"][0]["id"] != title:
        missing += 1
    lat.append(t1 - t0)
    t2 = time.perf_counter()
    c.request("GET", "/v1/members/%s/homepage?rows=20&per_row=40" % member)
    r = c.getresponse(); r.read()
    page_only.append(time.perf_counter() - t2)
lat.sort(); page_only.sort()
q = lambda v, p: 1e3 * v[min(len(v) - 1, int(p * len(v)))]
print("event->page: n=%d median %.2f ms p99 %.2f ms (page alone: median %.2f ms p99 %.2f ms); "
      "pages missing the event: %d" % (n, q(lat, .5), q(lat, .99), q(page_only, .5), q(page_only, .99), missing))
sys.exit(1 if missing else 0)
