-- Prosody for perfgate: one loopback c2s port, data and logs in the round's data folder.
-- perfgate.toml's [target] command sets PROSODY_PORT and PROSODY_DATA (see seed_accounts.py).

local port = tonumber(ENV_PROSODY_PORT) or 5222
local data = ENV_PROSODY_DATA or "data"

run_as_root = true                 -- containers and CI often run as root; nothing here needs it
data_path = data
certificates = data                -- none are used: plain TCP on loopback
pidfile = data .. "/prosody.pid"
log = { { levels = { min = "warn" }, to = "file", filename = data .. "/prosody.log" } }
network_backend = "epoll"          -- the select backend stops at 1,024 sockets
-- Chat is small writes: without this, Nagle's algorithm meets the clients' delayed ACKs and
-- deliveries come in 40 ms steps.
network_settings = { nagle = false }

interfaces = { "127.0.0.1" }
c2s_ports = { port }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}

-- Plain TCP on loopback: no certificates, PLAIN allowed as the clients' fallback.
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

authentication = "internal_hashed"
storage = "internal"

modules_enabled = {
	"roster";
	"saslauth";
	"disco";
	"ping";
}
modules_disabled = { "s2s"; "offline" }

VirtualHost "localhost"
