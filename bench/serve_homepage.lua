-- serve_homepage.lua: wrk script: full homepages with members rotating over 1..MQ_MEMBERS
-- (environment, default 610) in a scrambled order, ROWS x PER_ROW (default 20 x 40).
local n = tonumber(os.getenv("MQ_MEMBERS") or "610")
local rows = os.getenv("MQ_ROWS") or "20"
local per = os.getenv("MQ_PER_ROW") or "40"
local i = 0
local salt = 0
setup = function(thread)
  salt = salt + 1
  thread:set("salt", salt)
end
request = function()
  i = i + 1
  local m = ((i * 7919 + (salt or 0) * 104729) % n) + 1
  return wrk.format("GET", "/v1/members/" .. m .. "/homepage?rows=" .. rows .. "&per_row=" .. per)
end
