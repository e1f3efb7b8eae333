-- serve_events.lua: wrk script: POST /v1/events, one play event per request, each for a
-- fresh synthetic member and a title from MQ_TITLES (comma-separated ids, default "1").
local titles = {}
for t in string.gmatch(os.getenv("MQ_TITLES") or "1", "[^,]+") do titles[#titles + 1] = t end
local i = 0
local salt = 0
setup = function(thread)
  salt = salt + 1
  thread:set("salt", salt)
end
request = function()
  i = i + 1
  local body = string.format('{"member":"bench-%d-%d","title":"%s","timestamp":%d,"event":"play","value":60}',
                             salt or 0, i, titles[(i % #titles) + 1], 1700000000 + i)
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json"}, body)
end
