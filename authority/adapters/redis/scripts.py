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

# Bulk issuance: write one grant at most once per idempotency key, atomically with the key.
# KEYS: holder hash, idempotency key (same slot: the holder's hash tag).
# ARGV: field, grant JSON, '"id":"<grant id>"', '"org":"<organisation id>"', remembered value
# (fingerprint), key lifetime in seconds.
# {1} written, {0} already written with this content, {-1} no such holder, {-2} holder of
# another organisation, {-3} the key was used for other content.
GRANT_ISSUE_ONCE = """
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return -1 end
if not string.find(st, ARGV[4], 1, true) then return -2 end
if string.find(st, '"st":"restricted"', 1, true) then return -4 end
local prev = redis.call('GET', KEYS[2])
if prev then
  if prev == ARGV[5] then return 0 end
  return -3
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cur == '' or cur == '[]' or cur == '{}' then
  redis.call('HSET', KEYS[1], ARGV[1], '[' .. ARGV[2] .. ']')
elseif not string.find(cur, ARGV[3], 1, true) then
  redis.call('HSET', KEYS[1], ARGV[1], string.sub(cur, 1, -2) .. ',' .. ARGV[2] .. ']')
end
redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[6])
return 1
"""

# The grant-list fields of a holder hash ('d:<door>' and 's:<site>').
_GRANT_FIELDS_LUA = """
local function grant_fields(key)
  local out = {}
  for _, name in ipairs(redis.call('HKEYS', key)) do
    local p = string.sub(name, 1, 2)
    if p == 'd:' or p == 's:' then out[#out + 1] = name end
  end
  return out
end
"""

# Revoke every live grant of one holder (optionally of one organisation, in given fields only).
# KEYS: holder hash. ARGV: now (epoch seconds), organisation id ('' = any), fields… (none = all).
# Returns the revoked grants as JSON objects.
GRANTS_REVOKE = (
    _GRANT_FIELDS_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local now = tonumber(ARGV[1])
local fields = {}
if #ARGV > 2 then
  for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
else
  fields = grant_fields(KEYS[1])
end
local out = {}
for _, f in ipairs(fields) do
  local cur = redis.call('HGET', KEYS[1], f)
  if cur and cur ~= '' and cur ~= '[]' and cur ~= '{}' then
    local list = cjson.decode(cur)
    local changed = false
    for _, g in ipairs(list) do
      if g.rv == cjson.null and g.vu > now and (ARGV[2] == '' or g.o == ARGV[2]) then
        g.rv = now
        changed = true
        out[#out + 1] = cjson.encode(g)
      end
    end
    if changed then redis.call('HSET', KEYS[1], f, cjson.encode(list)) end
  end
end
return out
"""
)

# Roster change: make the given grants the holder's live grants from one organisation, in one
# atomic step. KEYS: holder hash. ARGV: now, '"org":"<org>"', organisation id, n, then per
# desired grant: field, signature, valid_from to match (0 = any), grant JSON.
# Signature: field|valid_until|days/start/end;… (as authority.domain.bulk.roster_signature).
# Returns {-1} no such holder, {-2} holder of another organisation, or
# {1, {kept ids}, {revoked grants as JSON}, {indexes of desired grants created (1-based)}}.
GRANTS_REPLACE = (
    _GRANT_FIELDS_LUA
    + """
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return {-1} end
if not string.find(st, ARGV[2], 1, true) then return {-2} end
local now, org, n = tonumber(ARGV[1]), ARGV[3], tonumber(ARGV[4])
local desired = {}
for i = 1, n do
  local b = 5 + 4 * (i - 1)
  desired[i] = {f = ARGV[b], sig = ARGV[b + 1], vf = tonumber(ARGV[b + 2]), json = ARGV[b + 3]}
end
local function signature(f, g)
  local parts = {}
  if type(g.w) == 'table' then
    for _, w in ipairs(g.w) do
      local days = {}
      for _, d in ipairs(w[1]) do days[#days + 1] = string.format('%d', d) end
      parts[#parts + 1] = table.concat(days, ',') .. '/' .. string.format('%d', w[2]) .. '/' ..
        string.format('%d', w[3])
    end
  end
  return f .. '|' .. string.format('%d', g.vu) .. '|' .. table.concat(parts, ';')
end
local kept, revoked, created = {}, {}, {}
for _, f in ipairs(grant_fields(KEYS[1])) do
  local cur = redis.call('HGET', KEYS[1], f)
  if cur and cur ~= '' and cur ~= '[]' and cur ~= '{}' then
    local list = cjson.decode(cur)
    local changed = false
    for _, g in ipairs(list) do
      if g.o == org and g.rv == cjson.null and g.vu > now then
        local sig, match = signature(f, g), nil
        for i, d in ipairs(desired) do
          if not d.used and d.f == f and d.sig == sig and (d.vf == 0 or d.vf == g.vf) then
            match = i
            break
          end
        end
        if match then
          desired[match].used = true
          kept[#kept + 1] = g.id
        else
          g.rv = now
          changed = true
          revoked[#revoked + 1] = cjson.encode(g)
        end
      end
    end
    if changed then redis.call('HSET', KEYS[1], f, cjson.encode(list)) end
  end
end
for i, d in ipairs(desired) do
  if not d.used then
    local cur = redis.call('HGET', KEYS[1], d.f)
    if not cur or cur == '' or cur == '[]' or cur == '{}' then
      redis.call('HSET', KEYS[1], d.f, '[' .. d.json .. ']')
    else
      redis.call('HSET', KEYS[1], d.f, string.sub(cur, 1, -2) .. ',' .. d.json .. ']')
    end
    created[#created + 1] = i
  end
end
return {1, kept, revoked, created}
"""
)
