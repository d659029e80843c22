"""Lua scripts applying a batch of updates atomically, forward in time only.

KEYS: geo set, supply hash r8, supply hash r9, then one vehicle hash per update.
A vehicle counts towards supply while its state is `available` and it has a cell.
"""

_PRELUDE = """
local geo, s8, s9 = KEYS[1], KEYS[2], KEYS[3]
local MAX_LAT = 85.05112878

local function contrib(state, cell, vtype)
  if state == 'available' and cell and vtype then return cell .. '|' .. vtype end
  return nil
end

local function adjust(key, old, new)
  if old == new then return end
  if old and redis.call('HINCRBY', key, old, -1) <= 0 then redis.call('HDEL', key, old) end
  if new then redis.call('HINCRBY', key, new, 1) end
end

local function recount(b, a)
  adjust(s8, contrib(b[1], b[2], b[4]), contrib(a[1], a[2], a[4]))
  adjust(s9, contrib(b[1], b[3], b[4]), contrib(a[1], a[3], a[4]))
end
"""

# ARGV per vehicle (9): device, ts_ms, lat, lng, battery|'', speed|'', cell8, cell9, vtype.
POSITIONS = (
    _PRELUDE
    + """
local applied = 0
for i = 4, #KEYS do
  local a = (i - 4) * 9
  local key, ts = KEYS[i], tonumber(ARGV[a + 2])
  local cur = redis.call('HMGET', key, 'ts', 'st', 'c8', 'c9', 'vt')
  if not cur[1] or ts > tonumber(cur[1]) then
    local lat, lng = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    local fields = {'ts', ARGV[a + 2], 'lat', ARGV[a + 3], 'lng', ARGV[a + 4],
                    'c8', ARGV[a + 7], 'c9', ARGV[a + 8], 'vt', ARGV[a + 9]}
    redis.call('HSET', key, unpack(fields))
    -- The live state mirrors the newest point exactly, so a rebuild can reproduce it.
    for j, name in ipairs({'bat', 'spd'}) do
      local value = ARGV[a + 4 + j]
      if value == '' then redis.call('HDEL', key, name)
      else redis.call('HSET', key, name, value) end
    end
    redis.call('GEOADD', geo, lng, math.max(-MAX_LAT, math.min(MAX_LAT, lat)), ARGV[a + 1])
    recount({cur[2], cur[3], cur[4], cur[5]}, {cur[2], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]})
    applied = applied + 1
  end
end
return applied
"""
)

# ARGV per vehicle (3): state_ts_ms, state, vtype. Ties go to the later arrival.
STATES = (
    _PRELUDE
    + """
local applied = 0
for i = 4, #KEYS do
  local a = (i - 4) * 3
  local key, ts = KEYS[i], tonumber(ARGV[a + 1])
  local cur = redis.call('HMGET', key, 'sts', 'st', 'c8', 'c9', 'vt')
  if not cur[1] or ts >= tonumber(cur[1]) then
    redis.call('HSET', key, 'sts', ARGV[a + 1], 'st', ARGV[a + 2], 'vt', ARGV[a + 3])
    recount({cur[2], cur[3], cur[4], cur[5]}, {ARGV[a + 2], cur[3], cur[4], ARGV[a + 3]})
    applied = applied + 1
  end
end
return applied
"""
)
