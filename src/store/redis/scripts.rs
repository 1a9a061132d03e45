//! The Lua scripts that make each change atomic inside Redis: a compare-and-set save that
//! also announces itself, a remove, and a lease's renewal and release that only its owner
//! can do.

use std::sync::LazyLock;

use redis::Script;

/// KEYS: token, index, version counter, spending marker. ARGV: expected version (`*`: any;
/// `0`: none stored), record, member, channel, provider, subject. Returns the new version,
/// or 0 when the stored version is not the expected one (nothing written). A record that is
/// stored already (a retry of a write whose answer was lost) returns its version. A write
/// settles the spending marker: the answer it was waiting for is stored.
pub static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] ~= '*' and (cur or '0') ~= ARGV[1] then
  if cur and redis.call('HGET', KEYS[1], 'd') == ARGV[2] then
    return tonumber(cur)
  end
  return 0
end
local v = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('DEL', KEYS[4])
redis.call('PUBLISH', ARGV[4], cjson.encode({op = 'saved', provider = ARGV[5], subject = ARGV[6], version = v}))
return v
",
    )
});

/// KEYS: token, index, version counter, spending marker. ARGV: member, channel, provider,
/// subject. Returns the version of the removal, 0 when nothing was stored.
pub static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4])
if existed == 0 then
  return 0
end
local v = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[2], cjson.encode({op = 'removed', provider = ARGV[3], subject = ARGV[4], version = v}))
return v
",
    )
});

/// KEYS: lock. ARGV: owner, lease (ms). 1 when renewed, 0 when the lock is not the owner's.
pub static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
",
    )
});

/// KEYS: lock, spending marker. ARGV: owner, version, marker lifetime (ms), force (`1`).
/// Marks that the lock's owner is about to present the refresh token of the stored token
/// of `version`: -1 when the lock is not the owner's (its lease lapsed: present nothing);
/// 0 when an earlier holder presented that very token and nothing was stored since (it
/// stalled or died after its call: the token may be spent), unless `force`; else 1.
pub static SPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
if redis.call('GET', KEYS[2]) == ARGV[2] and ARGV[4] ~= '1' then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
",
    )
});

/// KEYS: spending marker. ARGV: version. Clears the marker of `version` (the platform
/// answered without taking the refresh token): 1 when cleared.
pub static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// KEYS: lock. ARGV: owner. 1 when released, 0 when the lock is not the owner's (it lapsed,
/// and maybe another holder has it now: theirs is left alone).
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// KEYS: login, provider's logins. ARGV: state, record, lifetime (ms), keep (ms), cap.
/// Lapsed logins are dropped first; 1 when recorded, 0 when the provider has `cap` already.
pub static LOGIN_INSERT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  return 0
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
return 1
",
    )
});

/// KEYS: provider's logins. Returns how many have not lapsed.
pub static LOGIN_COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
",
    )
});

/// KEYS: login, provider's logins. ARGV: state, the record as read. Takes the login only if
/// it is still the one read (no one else took it meanwhile): 1 when taken.
pub static LOGIN_TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
",
    )
});
