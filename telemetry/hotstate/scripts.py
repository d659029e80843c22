"""Lua scripts applying a batch of updates atomically, forward in time only.

KEYS: the provider's geo set, supply hash r8 and supply hash r9.
ARGV[1]: the prefix of the provider's vehicle keys; ARGV[2]: the updates as one JSON
array of arrays of strings. Passing one JSON string instead of thousands of arguments
keeps the client's encoding cost per batch small. Vehicle keys are built in the script
from the prefix; they carry the provider's hash tag, so they live in the same cluster
slot as the declared keys.

A vehicle counts towards supply while its state is `available` and it has a cell.
"""

_PRELUDE = """
local geo, s8, s9 = KEYS[1], KEYS[2], KEYS[3]
local prefix, rows = ARGV[1], cjson.decode(ARGV[2])
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

# A row: device, ts_ms, lat, lng, battery|'', speed|'', cell8, cell9, vtype.
POSITIONS = (
    _PRELUDE
    + """
local applied, moves = 0, {}
for _, r in ipairs(rows) do
  local key, ts = prefix .. r[1], tonumber(r[2])
  local cur = redis.call('HMGET', key, 'ts', 'st', 'c8', 'c9', 'vt')
  if not cur[1] or ts > tonumber(cur[1]) then
    local fields = {'ts', r[2], 'lat', r[3], 'lng', r[4]}
    -- Cells and type rarely change between points: write them only when they do.
    for j, name in ipairs({'c8', 'c9', 'vt'}) do
      if cur[2 + j] ~= r[6 + j] then table.insert(fields, name); table.insert(fields, r[6 + j]) end
    end
    -- The live state mirrors the newest point exactly, so a rebuild can reproduce it.
    local absent = {}
    for j, name in ipairs({'bat', 'spd'}) do
      if r[4 + j] == '' then table.insert(absent, name)
      else table.insert(fields, name); table.insert(fields, r[4 + j]) end
    end
    redis.call('HSET', key, unpack(fields))
    if #absent > 0 then redis.call('HDEL', key, unpack(absent)) end
    local lat = math.max(-MAX_LAT, math.min(MAX_LAT, tonumber(r[3])))
    table.insert(moves, tonumber(r[4])); table.insert(moves, lat); table.insert(moves, r[1])
    recount({cur[2], cur[3], cur[4], cur[5]}, {cur[2], r[7], r[8], r[9]})
    applied = applied + 1
  end
end
-- One GEOADD for the whole chunk; chunks stay far below Lua's unpack limit.
if #moves > 0 then redis.call('GEOADD', geo, unpack(moves)) end
return applied
"""
)

# A row: device, state_ts_ms, state, vtype, trip_ts_ms|''. Ties go to the later arrival.
STATES = (
    _PRELUDE
    + """
local applied = 0
for _, r in ipairs(rows) do
  local key, ts = prefix .. r[1], tonumber(r[2])
  local cur = redis.call('HMGET', key, 'sts', 'st', 'c8', 'c9', 'vt', 'trip')
  if not cur[1] or ts >= tonumber(cur[1]) then
    redis.call('HSET', key, 'sts', r[2], 'st', r[3], 'vt', r[4])
    recount({cur[2], cur[3], cur[4], cur[5]}, {r[3], cur[3], cur[4], r[4]})
    applied = applied + 1
  end
  if r[5] ~= '' and (not cur[6] or tonumber(r[5]) > tonumber(cur[6])) then
    redis.call('HSET', key, 'trip', r[5])
  end
end
return applied
"""
)

# Zone tracking, read and written for a whole batch in one call each. A vehicle has a
# state (JSON) and a signature; a batch whose newest zones match the signature, with
# nothing else to judge, needs no evaluation, so its state is not even read.
# ARGV[1]: the prefix of the provider's tracking keys (state: prefix..device, signature:
# prefix..device..':sig'); ARGV[2]: JSON.

# ARGV[2]: [[device, signature, forced], ...] -> JSON {device: state or ''} of those due.
TRACKS_DUE = """
local prefix, rows = ARGV[1], cjson.decode(ARGV[2])
local due = {}
for _, r in ipairs(rows) do
  local key = prefix .. r[1]
  if r[3] == 1 or redis.call('GET', key .. ':sig') ~= r[2] then
    due[r[1]] = redis.call('GET', key) or ''
  end
end
if next(due) == nil then return '{}' end
return cjson.encode(due)
"""

# ARGV[2]: {device: [state, signature]}.
TRACKS_SET = """
local prefix, tracks = ARGV[1], cjson.decode(ARGV[2])
local n = 0
for device, t in pairs(tracks) do
  redis.call('SET', prefix .. device, t[1])
  redis.call('SET', prefix .. device .. ':sig', t[2])
  n = n + 1
end
return n
"""

# A slice of a provider's fleet with each vehicle's live fields, in one round trip.
# KEYS[1]: the geo set; ARGV[1]: the prefix of the vehicle keys; ARGV[2], ARGV[3]: the
# slice's first and last rank; ARGV[4..]: the fields. Returns device, fields..., device, ...
FLEET = """
local members = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3])
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local out = {}
for _, m in ipairs(members) do
  out[#out + 1] = m
  local values = redis.call('HMGET', ARGV[1] .. m, unpack(fields))
  for j = 1, #fields do out[#out + 1] = values[j] or false end
end
return out
"""
