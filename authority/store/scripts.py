"""Lua scripts: each touches keys of one hash slot only, so they run on Redis Cluster too."""

from __future__ import annotations

# KEYS: entity hash, version counter, changelog stream, parent hash (for a required parent)
# ARGV: id, record, mode ('create'|'cas'), expected record (cas), kind, changelog maxlen, parent id
DIRECTORY_PUT = """
if ARGV[7] ~= '' and redis.call('HEXISTS', KEYS[4], ARGV[7]) == 0 then return -3 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] == 'create' then
  if cur then return -1 end
else
  if not cur then return -4 end
  if cur ~= ARGV[4] then return -2 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local v = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'v', v, 'k', ARGV[5], 'r', ARGV[2])
return v
"""

# A consistent copy of the whole directory: version, the three hashes, the changelog's last id,
# the sites' revocation epochs.
# KEYS: version, org hash, site hash, door hash, changelog, epoch hash
DIRECTORY_SNAPSHOT = """
local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
return {redis.call('GET', KEYS[1]) or '0', redis.call('HGETALL', KEYS[2]),
        redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4]), last_id,
        redis.call('HGETALL', KEYS[6])}
"""

# Raise the revocation epoch of each existing site by one; each raise is a directory change
# (version + changelog entry), so the next decision on every process sees it.
# KEYS: epoch hash, version, changelog, site hash. ARGV: changelog maxlen, site ids…
# Returns [site id, new epoch, …] for the sites that exist.
EPOCH_BUMP = """
local out = {}
for i = 2, #ARGV do
  local site = ARGV[i]
  if redis.call('HEXISTS', KEYS[4], site) == 1 then
    local ep = redis.call('HINCRBY', KEYS[1], site, 1)
    local v = redis.call('INCR', KEYS[2])
    local rec = cjson.encode({site = site, ep = ep})
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'v', v, 'k', 'epoch', 'r', rec)
    out[#out + 1] = site
    out[#out + 1] = ep
  end
end
return out
"""

# KEYS: holder hash. ARGV: holder record, credential digest. 1 created, 0 exists.
HOLDER_CREATE = """
if redis.call('HEXISTS', KEYS[1], 'st') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'cred', ARGV[2])
return 1
"""

# Compare-and-set one field of an existing holder hash.
# KEYS: holder hash. ARGV: field, expected value ('' = absent), new value.
# 1 done, 0 conflict (someone changed it first), -1 no such holder.
HOLDER_FIELD_CAS = """
if redis.call('HEXISTS', KEYS[1], 'st') == 0 then return -1 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (cur or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

# Append one grant (JSON object) to a holder field holding a JSON array, unless a grant with the
# same id is there already. KEYS: holder hash. ARGV: field, grant JSON, '"id":"<grant id>"'.
# 1 appended, 0 already there, -1 no such holder.
GRANT_APPEND = """
if redis.call('HEXISTS', KEYS[1], 'st') == 0 then return -1 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cur == '' or cur == '[]' then
  redis.call('HSET', KEYS[1], ARGV[1], '[' .. ARGV[2] .. ']')
  return 1
end
if string.find(cur, ARGV[3], 1, true) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], string.sub(cur, 1, -2) .. ',' .. ARGV[2] .. ']')
return 1
"""

# Set one field of an existing holder hash and return its previous value ('' if none).
# KEYS: holder hash. ARGV: field, new value. Returns {1, previous} or {-1, ''} (no such holder).
HOLDER_FIELD_SWAP = """
if redis.call('HEXISTS', KEYS[1], 'st') == 0 then return {-1, ''} end
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1, cur}
"""

# Append an access-log event to a buffer stream unless the same event id was appended within the
# guard's lifetime: the guard and the entry are written together or not at all.
# KEYS: guard key, buffer stream (one slot). ARGV: entry, guard seconds, stream backlog limit.
# 1 appended, 0 already appended, -1 buffer full.
EVENT_APPEND_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[1])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[2])
return 1
"""
