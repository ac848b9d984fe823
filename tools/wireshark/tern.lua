-- Wireshark dissector for Tern wire protocol v1 (docs/protocol.md,
-- transport/wire.h). Tern runs over Ethernet / IPv4|IPv6 / UDP; this
-- dissector takes the UDP payload on the Tern ports (default 49478-49493,
-- one per worker of a host; the "UDP ports" preference) and decodes every
-- header: the common TernHeader, the DATA header with its RDMA extension,
-- the ACK header with its 128-bit SACK bitmap, the NACK header, and the
-- in-band telemetry stack (flag TELEMETRY) that follows the DATA headers or
-- the ACK header. The checksum counts a DATA packet's stack as zero
-- (switches write it in flight); an ACK's echoed stack is covered. A datagram
-- of coalesced ACKs and NACKs (flag COALESCED on all but the last) shows one
-- Tern tree per packet, each judged alone.
--
-- Use:
--   tshark -X lua_script:tools/wireshark/tern.lua -r capture.pcapng
--   or copy this file into ~/.local/lib/wireshark/plugins/
--
-- It also reports what a Tern receiver that verifies checksums in software
-- would do with the packet: tern.drop_reason carries the name DecodeTern()
-- gives (DropReasonName in wire.cc; "none" when accepted), following the same
-- check order, including its rule that a header error on a packet whose
-- CRC32C also fails counts as bad_checksum.
--
-- Fields (filter names):
--   tern.version               uint8   protocol version (1)
--   tern.type                  uint8   packet type: 1 DATA, 2 ACK, 3 NACK
--   tern.flags                 uint16  flag bits, hex
--     tern.flags.trimmed         0x0001 TRIMMED (a switch cut the payload)
--     tern.flags.ack_request     0x0002 ACK_REQUEST
--     tern.flags.retransmit      0x0004 RETRANSMIT
--     tern.flags.first           0x0008 FIRST
--     tern.flags.last            0x0010 LAST
--     tern.flags.ecn_echo        0x0020 ECN_ECHO
--     tern.flags.cnp             0x0040 CNP (ACK only: congestion notification)
--     tern.flags.telemetry       0x0080 TELEMETRY (DATA, ACK: a telemetry stack follows)
--     tern.flags.coalesced       0x0100 COALESCED (ACK, NACK: another Tern packet follows)
--     tern.flags.reserved        0xFE00 must be zero
--   tern.dst_qpn, tern.src_qpn uint32  queue pair numbers, hex
--   tern.psn                   uint32  DATA: PSN; ACK: cumulative point; NACK: refused PSN
--   tern.checksum              uint32  CRC32C as carried, hex
--   tern.checksum.calculated   uint32  CRC32C computed here (generated)
--   tern.checksum.status       uint8   0 Bad, 1 Good, 2 Unverified (generated)
--   tern.entropy               uint16  UDP source port = path entropy (generated)
--   tern.drop_reason           string  receiver's verdict, "none" if accepted (generated)
--   tern.data.opcode           uint8   SEND, SEND_WITH_IMM, WRITE, WRITE_WITH_IMM,
--                                      READ_REQUEST, READ_RESPONSE
--   tern.data.reserved         uint8
--   tern.data.payload_len      uint16  payload bytes as sent (kept by a trim)
--   tern.data.msg_id           uint32
--   tern.data.rsn              uint32
--   tern.data.offset           uint32
--   tern.data.msg_len          uint32
--   tern.data.imm              uint32  hex
--   tern.data.timestamp        uint32  sender ns mod 2^32
--   tern.rdma.remote_va        uint64  hex
--   tern.rdma.rkey             uint32  hex
--   tern.telemetry.hops        uint8   records filled (0..5; more is malformed)
--   tern.telemetry.reserved    uint24  hex
--   tern.telemetry.timestamp_ns uint32 one per filled record: switch ns mod 2^32
--   tern.telemetry.tx_bytes    uint32  one per filled record: bytes the port sent, mod 2^32
--   tern.telemetry.queue_bytes uint32  one per filled record: port queue as the packet left
--   tern.telemetry.rate_mbps   uint32  one per filled record: port line rate
--   tern.payload               bytes   DATA payload present in the packet (after the stack)
--   tern.ack.cumulative        uint32  = tern.psn on an ACK (generated)
--   tern.ack.sack_base         uint32  PSN of SACK bit 0
--   tern.ack.sack_bitmap0      uint64  bits 0..63 (LSB = bit 0), hex
--   tern.ack.sack_bitmap1      uint64  bits 64..127, hex
--   tern.ack.sack_count        uint8   set bits (generated)
--   tern.ack.sack_ranges       string  SACKed PSNs as runs, "102-103,164" (generated)
--   tern.ack.sack_psn          uint32  one per set bit: a SACKed PSN (generated)
--   tern.ack.sack_offset       uint8   one per set bit: its offset from sack_base (generated)
--   tern.ack.window_end        uint32
--   tern.ack.ts_echo           uint32
--   tern.ack.echo_entropy      uint16
--   tern.ack.ce_count          uint16
--   tern.nack.reason           uint8   TRIMMED, NO_RECEIVE_BUFFER, ACCESS_ERROR, INVALID_REQUEST
--   tern.nack.reserved         uint8
--   tern.nack.echo_entropy     uint16
--   tern.nack.ts_echo          uint32
--   tern.nack.retry_after_ns   uint32
--   tern.undecoded             bytes   bytes left over after a refusal, or trailing bytes
--
-- Expert info (named after the receiver's drop reasons):
--   tern.expert.truncated       error   shorter than its headers
--   tern.expert.bad_version     error   version is not 1
--   tern.expert.unknown_type    error   type not DATA/ACK/NACK
--   tern.expert.unknown_opcode  error   unknown DATA opcode or NACK reason
--   tern.expert.bad_flags       error   reserved flag bits, TRIMMED/FIRST/LAST on ACK/NACK,
--                                       CNP on DATA/NACK, or TELEMETRY on NACK
--   tern.expert.bad_length      error   payload length disagrees, trailing bytes, or
--                                       telemetry hops above 5
--   tern.expert.bad_checksum    error   CRC32C mismatch
--   tern.expert.retransmit      note    RETRANSMIT flag set
--   tern.expert.trimmed         note    DATA trimmed by a switch
--   tern.expert.nack            warning a NACK and its reason
--   tern.expert.cnp             note    ACK with CNP (the receiver saw CE)
--
-- Preferences: tern.udp_ports (49478-49493), tern.verify_checksum (on).
--
-- Tested by tools/wireshark/dissector_test.py against the C++ decoder
-- (meson test -C BUILD dissector). Keep in step with transport/wire.h.

local tern = Proto("tern", "Tern Transport Protocol")

-- kDefaultUdpPort and the kTernUdpPortCount - 1 ports after it (tern-perf
-- --workers gives worker w port kDefaultUdpPort + w).
local DEFAULT_PORTS = "49478-49493"
local VERSION = 1 -- kTernVersion

local COMMON_LEN = 20 -- sizeof(TernHeader)
local DATA_LEN = 28   -- sizeof(DataHeader)
local RDMA_LEN = 12   -- sizeof(RdmaExtension)
local ACK_LEN = 32    -- sizeof(AckHeader)
local NACK_LEN = 12   -- sizeof(NackHeader)
local TELEMETRY_LEN = 84 -- sizeof(TelemetryStack)
local TELEMETRY_HOPS = 5 -- kTelemetryHops
local RECORD_LEN = 16    -- sizeof(TelemetryRecord)
local SACK_BITS = 128

local TYPE_DATA, TYPE_ACK, TYPE_NACK = 1, 2, 3
local type_names = { [1] = "DATA", [2] = "ACK", [3] = "NACK" }

local OP_READ_REQUEST = 5
local opcode_names = {
  [1] = "SEND", [2] = "SEND_WITH_IMM", [3] = "WRITE", [4] = "WRITE_WITH_IMM",
  [5] = "READ_REQUEST", [6] = "READ_RESPONSE",
}
-- Opcodes followed by the RDMA extension (OpcodeHasRdmaExtension).
local has_rdma = { [3] = true, [4] = true, [5] = true }

local NACK_NO_RECEIVE_BUFFER = 2
local reason_names = {
  [1] = "TRIMMED", [2] = "NO_RECEIVE_BUFFER", [3] = "ACCESS_ERROR", [4] = "INVALID_REQUEST",
}

local FLAG_TRIMMED, FLAG_ACK_REQUEST, FLAG_RETRANSMIT = 0x0001, 0x0002, 0x0004
local FLAG_FIRST, FLAG_LAST, FLAG_ECN_ECHO = 0x0008, 0x0010, 0x0020
local FLAG_CNP, FLAG_TELEMETRY, FLAG_COALESCED = 0x0040, 0x0080, 0x0100
local RESERVED_FLAGS = 0xFE00 -- bits outside kKnownFlags (0x01FF)
local DATA_ONLY_FLAGS = FLAG_TRIMMED + FLAG_FIRST + FLAG_LAST
local flag_list = {
  { FLAG_TRIMMED, "TRIMMED" }, { FLAG_ACK_REQUEST, "ACK_REQUEST" },
  { FLAG_RETRANSMIT, "RETRANSMIT" }, { FLAG_FIRST, "FIRST" }, { FLAG_LAST, "LAST" },
  { FLAG_ECN_ECHO, "ECN_ECHO" }, { FLAG_CNP, "CNP" }, { FLAG_TELEMETRY, "TELEMETRY" },
  { FLAG_COALESCED, "COALESCED" },
}

local CHECKSUM_BAD, CHECKSUM_GOOD, CHECKSUM_UNVERIFIED = 0, 1, 2
local checksum_status_names = { [0] = "Bad", [1] = "Good", [2] = "Unverified" }

-- ---------------------------------------------------------------------------
-- Bit operations on unsigned 32-bit values: bit32 (Lua 5.2, Wireshark 4.0),
-- else Wireshark's "bit" library (signed results, normalised here), else the
-- native operators of Lua 5.3+ (compiled at run time: Lua 5.2 cannot parse
-- them).

local band, bxor, rshift
if bit32 then
  band, bxor, rshift = bit32.band, bit32.bxor, bit32.rshift
elseif bit then
  local function u32(x) return x % 4294967296 end
  band = function(a, b) return u32(bit.band(a, b)) end
  bxor = function(a, b) return u32(bit.bxor(a, b)) end
  rshift = function(a, n) return u32(bit.rshift(a, n)) end
else
  band, bxor, rshift = load([[
    return function(a, b) return a & b end,
           function(a, b) return (a ~ b) & 0xFFFFFFFF end,
           function(a, n) return (a & 0xFFFFFFFF) >> n end]])()
end

-- CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, init and final XOR
-- 0xFFFFFFFF (docs/protocol.md section 3). Table-driven, byte at a time.
local crc_table = {}
for i = 0, 255 do
  local r = i
  for _ = 1, 8 do
    if band(r, 1) == 1 then r = bxor(rshift(r, 1), 0x82F63B78) else r = rshift(r, 1) end
  end
  crc_table[i] = r
end

-- Where the checksum finds a DATA packet's telemetry stack (ZeroRangesOf in
-- wire.cc): type DATA, flag TELEMETRY and a known opcode, whatever the
-- version; the 84 bytes after the DATA header and any RDMA extension. Returns
-- the 0-based [first, last) range, or nil. A short packet has the part it holds.
local function data_stack_range(tvb)
  if tvb:len() < COMMON_LEN + DATA_LEN then return nil end
  if tvb(1, 1):uint() ~= TYPE_DATA or band(tvb(2, 2):uint(), FLAG_TELEMETRY) == 0 then
    return nil
  end
  local opcode = tvb(20, 1):uint()
  if opcode_names[opcode] == nil then return nil end
  local first = COMMON_LEN + DATA_LEN + (has_rdma[opcode] and RDMA_LEN or 0)
  return first, first + TELEMETRY_LEN
end

-- CRC32C of the Tern packet in `tvb` with its checksum field (bytes 16..19),
-- and a DATA packet's telemetry stack, taken as zero.
local function tern_checksum(tvb)
  local bytes = tvb:raw(0, tvb:len())
  local zero_first, zero_last = data_stack_range(tvb)
  zero_first, zero_last = zero_first or -1, zero_last or -1
  local crc = 0xFFFFFFFF
  local n = #bytes
  local i = 1
  while i <= n do
    -- string.byte returns at most a few thousand values at once comfortably.
    local last = math.min(i + 1023, n)
    local chunk = { string.byte(bytes, i, last) }
    for k = 1, #chunk do
      local pos = i + k - 2 -- 0-based offset in the packet
      local b = chunk[k]
      if (pos >= 16 and pos < 20) or (pos >= zero_first and pos < zero_last) then b = 0 end
      crc = bxor(rshift(crc, 8), crc_table[band(bxor(crc, b), 0xFF)])
    end
    i = last + 1
  end
  return bxor(crc, 0xFFFFFFFF)
end

-- ---------------------------------------------------------------------------
-- Fields.

local f = {
  version = ProtoField.uint8("tern.version", "Version", base.DEC),
  type = ProtoField.uint8("tern.type", "Type", base.DEC, type_names),
  flags = ProtoField.uint16("tern.flags", "Flags", base.HEX),
  flag_trimmed = ProtoField.bool("tern.flags.trimmed", "TRIMMED", 16, nil, FLAG_TRIMMED,
    "A switch cut the payload (DATA only)"),
  flag_ack_request = ProtoField.bool("tern.flags.ack_request", "ACK_REQUEST", 16, nil,
    FLAG_ACK_REQUEST, "The receiver must ACK at once"),
  flag_retransmit = ProtoField.bool("tern.flags.retransmit", "RETRANSMIT", 16, nil,
    FLAG_RETRANSMIT, "A resend of a PSN already sent"),
  flag_first = ProtoField.bool("tern.flags.first", "FIRST", 16, nil, FLAG_FIRST,
    "First packet of its message (DATA only)"),
  flag_last = ProtoField.bool("tern.flags.last", "LAST", 16, nil, FLAG_LAST,
    "Last packet of its message (DATA only)"),
  flag_ecn_echo = ProtoField.bool("tern.flags.ecn_echo", "ECN_ECHO", 16, nil, FLAG_ECN_ECHO,
    "A CE mark arrived since the previous ACK"),
  flag_cnp = ProtoField.bool("tern.flags.cnp", "CNP", 16, nil, FLAG_CNP,
    "Congestion notification: the receiver saw CE (ACK only)"),
  flag_telemetry = ProtoField.bool("tern.flags.telemetry", "TELEMETRY", 16, nil, FLAG_TELEMETRY,
    "A telemetry stack follows the headers (DATA: filled by switches; ACK: an echo)"),
  flag_coalesced = ProtoField.bool("tern.flags.coalesced", "COALESCED", 16, nil, FLAG_COALESCED,
    "Another Tern packet follows in this datagram (ACK, NACK)"),
  flag_reserved = ProtoField.uint16("tern.flags.reserved", "Reserved", base.HEX, nil,
    RESERVED_FLAGS, "Must be zero"),
  dst_qpn = ProtoField.uint32("tern.dst_qpn", "Destination QPN", base.HEX),
  src_qpn = ProtoField.uint32("tern.src_qpn", "Source QPN", base.HEX),
  psn = ProtoField.uint32("tern.psn", "PSN", base.DEC),
  checksum = ProtoField.uint32("tern.checksum", "Checksum", base.HEX),
  checksum_calculated = ProtoField.uint32("tern.checksum.calculated", "Calculated checksum",
    base.HEX),
  checksum_status = ProtoField.uint8("tern.checksum.status", "Checksum status", base.DEC,
    checksum_status_names),
  entropy = ProtoField.uint16("tern.entropy", "Entropy (UDP source port)", base.DEC),
  drop_reason = ProtoField.string("tern.drop_reason", "Receiver verdict"),

  opcode = ProtoField.uint8("tern.data.opcode", "Opcode", base.DEC, opcode_names),
  data_reserved = ProtoField.uint8("tern.data.reserved", "Reserved", base.HEX),
  payload_len = ProtoField.uint16("tern.data.payload_len", "Payload length", base.DEC),
  msg_id = ProtoField.uint32("tern.data.msg_id", "Message ID", base.DEC),
  rsn = ProtoField.uint32("tern.data.rsn", "RSN", base.DEC),
  offset = ProtoField.uint32("tern.data.offset", "Offset", base.DEC),
  msg_len = ProtoField.uint32("tern.data.msg_len", "Message length", base.DEC),
  imm = ProtoField.uint32("tern.data.imm", "Immediate", base.HEX),
  timestamp = ProtoField.uint32("tern.data.timestamp", "Timestamp (ns mod 2^32)", base.DEC),
  remote_va = ProtoField.uint64("tern.rdma.remote_va", "Remote VA", base.HEX),
  rkey = ProtoField.uint32("tern.rdma.rkey", "Rkey", base.HEX),
  telemetry_hops = ProtoField.uint8("tern.telemetry.hops", "Hops (records filled)", base.DEC),
  telemetry_reserved = ProtoField.uint24("tern.telemetry.reserved", "Reserved", base.HEX),
  telemetry_timestamp = ProtoField.uint32("tern.telemetry.timestamp_ns",
    "Timestamp (switch ns mod 2^32)", base.DEC),
  telemetry_tx_bytes = ProtoField.uint32("tern.telemetry.tx_bytes",
    "Bytes transmitted by the port (mod 2^32)", base.DEC),
  telemetry_queue_bytes = ProtoField.uint32("tern.telemetry.queue_bytes",
    "Queue at the port (bytes)", base.DEC),
  telemetry_rate = ProtoField.uint32("tern.telemetry.rate_mbps", "Port rate (Mb/s)", base.DEC),
  payload = ProtoField.bytes("tern.payload", "Payload"),

  cumulative = ProtoField.uint32("tern.ack.cumulative", "Cumulative PSN (next expected)",
    base.DEC),
  sack_base = ProtoField.uint32("tern.ack.sack_base", "SACK base", base.DEC),
  sack_bitmap0 = ProtoField.uint64("tern.ack.sack_bitmap0", "SACK bitmap word 0 (base+0..63)",
    base.HEX),
  sack_bitmap1 = ProtoField.uint64("tern.ack.sack_bitmap1",
    "SACK bitmap word 1 (base+64..127)", base.HEX),
  sack_count = ProtoField.uint8("tern.ack.sack_count", "SACKed PSNs", base.DEC),
  sack_ranges = ProtoField.string("tern.ack.sack_ranges", "SACK ranges"),
  sack_psn = ProtoField.uint32("tern.ack.sack_psn", "SACKed PSN", base.DEC),
  sack_offset = ProtoField.uint8("tern.ack.sack_offset", "SACK offset", base.DEC),
  window_end = ProtoField.uint32("tern.ack.window_end", "Window end", base.DEC),
  ack_ts_echo = ProtoField.uint32("tern.ack.ts_echo", "Timestamp echo", base.DEC),
  ack_echo_entropy = ProtoField.uint16("tern.ack.echo_entropy", "Echoed entropy", base.DEC),
  ce_count = ProtoField.uint16("tern.ack.ce_count", "CE count", base.DEC),

  reason = ProtoField.uint8("tern.nack.reason", "Reason", base.DEC, reason_names),
  nack_reserved = ProtoField.uint8("tern.nack.reserved", "Reserved", base.HEX),
  nack_echo_entropy = ProtoField.uint16("tern.nack.echo_entropy", "Echoed entropy", base.DEC),
  nack_ts_echo = ProtoField.uint32("tern.nack.ts_echo", "Timestamp echo", base.DEC),
  retry_after_ns = ProtoField.uint32("tern.nack.retry_after_ns", "Retry after (ns)", base.DEC),

  undecoded = ProtoField.bytes("tern.undecoded", "Undecoded bytes"),
}
-- Registered in this order, so `tshark -G fields` lists them as above.
local field_order = {
  "version", "type", "flags", "flag_trimmed", "flag_ack_request", "flag_retransmit",
  "flag_first", "flag_last", "flag_ecn_echo", "flag_cnp", "flag_telemetry", "flag_coalesced",
  "flag_reserved",
  "dst_qpn", "src_qpn", "psn",
  "checksum", "checksum_calculated", "checksum_status", "entropy", "drop_reason",
  "opcode", "data_reserved", "payload_len", "msg_id", "rsn", "offset", "msg_len", "imm",
  "timestamp", "remote_va", "rkey",
  "telemetry_hops", "telemetry_reserved", "telemetry_timestamp", "telemetry_tx_bytes",
  "telemetry_queue_bytes", "telemetry_rate", "payload",
  "cumulative", "sack_base", "sack_bitmap0", "sack_bitmap1", "sack_count", "sack_ranges",
  "sack_psn", "sack_offset", "window_end", "ack_ts_echo", "ack_echo_entropy", "ce_count",
  "reason", "nack_reserved", "nack_echo_entropy", "nack_ts_echo", "retry_after_ns",
  "undecoded",
}
local field_list = {}
for _, key in ipairs(field_order) do
  assert(f[key] ~= nil, "tern.lua: no field " .. key)
  field_list[#field_list + 1] = f[key]
end
for key in pairs(f) do
  local listed = false
  for _, k in ipairs(field_order) do listed = listed or k == key end
  assert(listed, "tern.lua: field " .. key .. " missing from field_order")
end
tern.fields = field_list

local ex = {
  truncated = ProtoExpert.new("tern.expert.truncated", "Truncated Tern packet",
    expert.group.MALFORMED, expert.severity.ERROR),
  bad_version = ProtoExpert.new("tern.expert.bad_version", "Unknown Tern version",
    expert.group.PROTOCOL, expert.severity.ERROR),
  unknown_type = ProtoExpert.new("tern.expert.unknown_type", "Unknown packet type",
    expert.group.PROTOCOL, expert.severity.ERROR),
  unknown_opcode = ProtoExpert.new("tern.expert.unknown_opcode",
    "Unknown DATA opcode or NACK reason", expert.group.PROTOCOL, expert.severity.ERROR),
  bad_flags = ProtoExpert.new("tern.expert.bad_flags", "Flags illegal for this packet",
    expert.group.PROTOCOL, expert.severity.ERROR),
  bad_length = ProtoExpert.new("tern.expert.bad_length", "Length disagrees with the header",
    expert.group.MALFORMED, expert.severity.ERROR),
  bad_checksum = ProtoExpert.new("tern.expert.bad_checksum", "Bad CRC32C checksum",
    expert.group.CHECKSUM, expert.severity.ERROR),
  retransmit = ProtoExpert.new("tern.expert.retransmit", "Retransmission",
    expert.group.SEQUENCE, expert.severity.NOTE),
  trimmed = ProtoExpert.new("tern.expert.trimmed", "Payload trimmed in the fabric",
    expert.group.SEQUENCE, expert.severity.NOTE),
  nack = ProtoExpert.new("tern.expert.nack", "Negative acknowledgement",
    expert.group.SEQUENCE, expert.severity.WARN),
  cnp = ProtoExpert.new("tern.expert.cnp", "Congestion notification (CNP)",
    expert.group.SEQUENCE, expert.severity.NOTE),
}
tern.experts = {
  ex.truncated, ex.bad_version, ex.unknown_type, ex.unknown_opcode, ex.bad_flags,
  ex.bad_length, ex.bad_checksum, ex.retransmit, ex.trimmed, ex.nack, ex.cnp,
}

-- ---------------------------------------------------------------------------
-- Preferences.

tern.prefs.udp_ports = Pref.range("UDP ports", DEFAULT_PORTS,
  "UDP destination ports of Tern packets (kDefaultUdpPort = 49478, plus one per extra worker)",
  65535)
tern.prefs.verify_checksum = Pref.bool("Verify checksum", true,
  "Compute the CRC32C of every packet and flag mismatches")

local udp_table = DissectorTable.get("udp.port")
local registered_ports = nil

local function register_ports()
  local ports = tern.prefs.udp_ports
  if registered_ports == ports then return end
  if registered_ports ~= nil and registered_ports ~= "" then
    udp_table:remove(registered_ports, tern)
  end
  if ports ~= "" then udp_table:add(ports, tern) end
  registered_ports = ports
end

function tern.prefs_changed()
  register_ports()
end

-- ---------------------------------------------------------------------------
-- Dissection.

local function flags_text(flags)
  local names = {}
  for _, entry in ipairs(flag_list) do
    if band(flags, entry[1]) ~= 0 then names[#names + 1] = entry[2] end
  end
  local unknown = band(flags, RESERVED_FLAGS)
  if unknown ~= 0 then names[#names + 1] = string.format("0x%x", unknown) end
  return table.concat(names, ",")
end

local function name_or_number(names, value)
  return names[value] or string.format("unknown(%d)", value)
end

-- SACK bit i sits in Tern byte 24 + 8*floor(i/64) + 7 - floor((i%64)/8), at
-- bit i%8 (docs/protocol.md section 2.6).
local function sack_byte(i)
  return 24 + 8 * math.floor(i / 64) + 7 - math.floor((i % 64) / 8)
end

local function sack_set_bits(tvb)
  local set = {}
  for i = 0, SACK_BITS - 1 do
    local byte = tvb(sack_byte(i), 1):uint()
    if band(rshift(byte, i % 8), 1) == 1 then set[#set + 1] = i end
  end
  return set
end

local function sack_ranges_text(base, set)
  local parts = {}
  local k = 1
  while k <= #set do
    local j = k
    while j < #set and set[j + 1] == set[j] + 1 do j = j + 1 end
    local first = (base + set[k]) % 4294967296
    local last = (base + set[j]) % 4294967296
    if j == k then
      parts[#parts + 1] = tostring(first)
    else
      parts[#parts + 1] = string.format("%d-%d", first, last)
    end
    k = j + 1
  end
  return table.concat(parts, ",")
end

-- The TelemetryStack at Tern offset `at` (84 bytes, present): a "Telemetry"
-- subtree with the hop count and the records filled, at most 5. Returns the
-- hop count and its item, for the caller's hops > 5 verdict.
local function add_telemetry(tvb, root, at, on_data)
  local hops = tvb(at, 1):uint()
  local stack_tree = root:add(tvb(at, TELEMETRY_LEN), "Telemetry")
  local hops_item = stack_tree:add(f.telemetry_hops, tvb(at, 1))
  stack_tree:add(f.telemetry_reserved, tvb(at + 1, 3))
  for i = 0, math.min(hops, TELEMETRY_HOPS) - 1 do
    local r = at + 4 + i * RECORD_LEN
    local hop_tree = stack_tree:add(tvb(r, RECORD_LEN), string.format("Hop %d", i + 1))
    hop_tree:add(f.telemetry_timestamp, tvb(r, 4))
    hop_tree:add(f.telemetry_tx_bytes, tvb(r + 4, 4))
    hop_tree:add(f.telemetry_queue_bytes, tvb(r + 8, 4))
    hop_tree:add(f.telemetry_rate, tvb(r + 12, 4))
    hop_tree:append_text(string.format(": queue %d B, %d Mb/s, t=%d ns", tvb(r + 8, 4):uint(),
      tvb(r + 12, 4):uint(), tvb(r, 4):uint()))
  end
  stack_tree:append_text(string.format(": %d hop%s%s", hops, hops == 1 and "" or "s",
    on_data and " (written in flight; the checksum counts it as zero)" or " (echo)"))
  return hops, hops_item
end

-- Decodes one Tern packet (the whole of `tvb`) into its own tree; returns
-- the Info text. `complete`: the capture holds all of it (one cut short by
-- the snap length cannot be checksummed).
local function dissect_packet(tvb, pinfo, tree, complete)
  local len = tvb:len()
  local root = tree:add(tern, tvb())
  local verify = tern.prefs.verify_checksum and complete
  root:add(f.entropy, pinfo.src_port):set_generated()

  -- The receiver's verdict: the first failing check, in DecodeTern's order.
  local drop = nil
  local checksum_bad = false
  local function reject(reason)
    if drop ~= nil then return end
    if verify and reason ~= "truncated" and checksum_bad then reason = "bad_checksum" end
    drop = reason
  end
  local function finish(info)
    local verdict = drop or "none"
    root:add(f.drop_reason, verdict):set_generated()
    if drop ~= nil then info = info .. " [" .. verdict .. "]" end
    return info
  end
  local function undecoded(from)
    if from < len then root:add(f.undecoded, tvb(from)) end
  end

  if len < COMMON_LEN then
    root:append_text(string.format(", truncated (%d bytes)", len))
    root:add_proto_expert_info(ex.truncated,
      string.format("Tern packet of %d bytes is shorter than the %d-byte common header", len,
        COMMON_LEN))
    undecoded(0)
    reject("truncated")
    return finish(string.format("Tern truncated (%d bytes)", len))
  end

  -- Common header.
  local version = tvb(0, 1):uint()
  local ptype = tvb(1, 1):uint()
  local flags = tvb(2, 2):uint()
  local dst_qpn = tvb(4, 4):uint()
  local src_qpn = tvb(8, 4):uint()
  local psn = tvb(12, 4):uint()
  local checksum = tvb(16, 4):uint()

  root:add(f.version, tvb(0, 1))
  root:add(f.type, tvb(1, 1))
  local flags_item = root:add(f.flags, tvb(2, 2))
  flags_item:add(f.flag_trimmed, tvb(2, 2))
  flags_item:add(f.flag_ack_request, tvb(2, 2))
  flags_item:add(f.flag_retransmit, tvb(2, 2))
  flags_item:add(f.flag_first, tvb(2, 2))
  flags_item:add(f.flag_last, tvb(2, 2))
  flags_item:add(f.flag_ecn_echo, tvb(2, 2))
  flags_item:add(f.flag_cnp, tvb(2, 2))
  flags_item:add(f.flag_telemetry, tvb(2, 2))
  flags_item:add(f.flag_coalesced, tvb(2, 2))
  flags_item:add(f.flag_reserved, tvb(2, 2))
  if flags ~= 0 then flags_item:append_text(" (" .. flags_text(flags) .. ")") end
  root:add(f.dst_qpn, tvb(4, 4))
  root:add(f.src_qpn, tvb(8, 4))
  local psn_item = root:add(f.psn, tvb(12, 4))
  local checksum_item = root:add(f.checksum, tvb(16, 4))
  if tern.prefs.verify_checksum and complete then
    local calculated = tern_checksum(tvb)
    checksum_bad = calculated ~= checksum
    checksum_item:add(f.checksum_calculated, tvb(16, 4), calculated):set_generated()
    local status = checksum_bad and CHECKSUM_BAD or CHECKSUM_GOOD
    checksum_item:add(f.checksum_status, tvb(16, 4), status):set_generated()
    if checksum_bad then
      checksum_item:append_text(string.format(" [incorrect, should be 0x%08x]", calculated))
      checksum_item:add_proto_expert_info(ex.bad_checksum,
        string.format("Bad CRC32C: carried 0x%08x, computed 0x%08x", checksum, calculated))
    else
      checksum_item:append_text(" [correct]")
    end
  else
    checksum_item:add(f.checksum_status, tvb(16, 4), CHECKSUM_UNVERIFIED):set_generated()
  end

  local summary = string.format("%s psn=%d qpn=0x%x<-0x%x", name_or_number(type_names, ptype),
    psn, dst_qpn, src_qpn)
  root:append_text(string.format(", %s", summary))

  if version ~= VERSION then
    root:add_proto_expert_info(ex.bad_version,
      string.format("Tern version %d; this dissector knows version %d", version, VERSION))
    reject("bad_version")
    undecoded(COMMON_LEN)
    return finish(string.format("Tern v%d (unknown version) %s", version, summary))
  end
  if type_names[ptype] == nil then
    root:add_proto_expert_info(ex.unknown_type, string.format("Unknown packet type %d", ptype))
    reject("unknown_type")
    undecoded(COMMON_LEN)
    return finish("Tern " .. summary)
  end
  if band(flags, RESERVED_FLAGS) ~= 0 then
    flags_item:add_proto_expert_info(ex.bad_flags,
      string.format("Reserved flag bits 0x%04x set", band(flags, RESERVED_FLAGS)))
    reject("bad_flags")
  end
  if band(flags, FLAG_RETRANSMIT) ~= 0 then
    flags_item:add_proto_expert_info(ex.retransmit)
  end
  if ptype == TYPE_ACK and band(flags, FLAG_CNP) ~= 0 then
    flags_item:add_proto_expert_info(ex.cnp)
  end
  -- A stack with more records filled than it has room for: DecodeTern's
  -- bad_length. Returns the hop count.
  local function telemetry_at(at, on_data)
    local hops, hops_item = add_telemetry(tvb, root, at, on_data)
    if hops > TELEMETRY_HOPS then
      hops_item:append_text(string.format(" [malformed: more than %d]", TELEMETRY_HOPS))
      hops_item:add_proto_expert_info(ex.bad_length,
        string.format("Telemetry hops %d: the stack holds %d records", hops, TELEMETRY_HOPS))
      reject("bad_length")
    end
    return hops
  end
  local flag_suffix = flags ~= 0 and (" [" .. flags_text(flags) .. "]") or ""

  if ptype == TYPE_DATA then
    if len < COMMON_LEN + DATA_LEN then
      root:add_proto_expert_info(ex.truncated,
        string.format("DATA packet of %d bytes is shorter than its %d header bytes", len,
          COMMON_LEN + DATA_LEN))
      reject("truncated")
      undecoded(COMMON_LEN)
      return finish("Tern " .. summary .. " (truncated)")
    end
    local opcode = tvb(20, 1):uint()
    local payload_len = tvb(22, 2):uint()
    local offset = tvb(32, 4):uint()
    local msg_len = tvb(36, 4):uint()
    local data_tree = root:add(tvb(20, DATA_LEN), "DATA header")
    local opcode_item = data_tree:add(f.opcode, tvb(20, 1))
    data_tree:add(f.data_reserved, tvb(21, 1))
    data_tree:add(f.payload_len, tvb(22, 2))
    data_tree:add(f.msg_id, tvb(24, 4))
    data_tree:add(f.rsn, tvb(28, 4))
    data_tree:add(f.offset, tvb(32, 4))
    data_tree:add(f.msg_len, tvb(36, 4))
    data_tree:add(f.imm, tvb(40, 4))
    data_tree:add(f.timestamp, tvb(44, 4))
    local opname = name_or_number(opcode_names, opcode)
    data_tree:append_text(": " .. opname)
    local info = string.format("DATA %s psn=%d qpn=0x%x<-0x%x off=%d/%d len=%d%s", opname, psn,
      dst_qpn, src_qpn, offset, msg_len, payload_len, flag_suffix)
    if opcode_names[opcode] == nil then
      opcode_item:add_proto_expert_info(ex.unknown_opcode,
        string.format("Unknown DATA opcode %d", opcode))
      reject("unknown_opcode")
      undecoded(COMMON_LEN + DATA_LEN)
      return finish(info)
    end
    local header_end = COMMON_LEN + DATA_LEN
    if has_rdma[opcode] then
      if len < header_end + RDMA_LEN then
        root:add_proto_expert_info(ex.truncated,
          string.format("%s packet of %d bytes is shorter than its %d header bytes", opname, len,
            header_end + RDMA_LEN))
        reject("truncated")
        undecoded(header_end)
        return finish(info .. " (truncated)")
      end
      local rdma_tree = root:add(tvb(header_end, RDMA_LEN), "RDMA extension")
      rdma_tree:add(f.remote_va, tvb(header_end, 8))
      rdma_tree:add(f.rkey, tvb(header_end + 8, 4))
      header_end = header_end + RDMA_LEN
    end
    if band(flags, FLAG_TELEMETRY) ~= 0 then
      if len < header_end + TELEMETRY_LEN then
        root:add_proto_expert_info(ex.truncated,
          string.format("%s packet of %d bytes is shorter than its %d header bytes with the "
            .. "telemetry stack", opname, len, header_end + TELEMETRY_LEN))
        reject("truncated")
        undecoded(header_end)
        return finish(info .. " (truncated)")
      end
      info = info .. string.format(" hops=%d", telemetry_at(header_end, true))
      header_end = header_end + TELEMETRY_LEN
    end
    if band(flags, FLAG_CNP) ~= 0 then
      flags_item:add_proto_expert_info(ex.bad_flags, "CNP is illegal on DATA")
      reject("bad_flags")
    end
    if band(flags, FLAG_COALESCED) ~= 0 then
      flags_item:add_proto_expert_info(ex.bad_flags,
        "COALESCED is illegal on DATA (its payload runs to the end of the datagram)")
      reject("bad_flags")
    end
    local trimmed = band(flags, FLAG_TRIMMED) ~= 0
    if trimmed then
      flags_item:add_proto_expert_info(ex.trimmed,
        string.format("Trimmed: %d payload bytes cut in the fabric", payload_len))
    end
    local present = len - header_end
    if opcode == OP_READ_REQUEST and payload_len ~= 0 then
      data_tree:add_proto_expert_info(ex.bad_length,
        string.format("READ_REQUEST with payload_len %d (must be 0)", payload_len))
      reject("bad_length")
    end
    local expected = trimmed and 0 or payload_len
    if present ~= expected then
      data_tree:add_proto_expert_info(ex.bad_length,
        string.format("%d payload bytes present, %d expected%s", present, expected,
          trimmed and " (trimmed)" or ""))
      reject("bad_length")
    end
    if present > 0 then root:add(f.payload, tvb(header_end)) end
    if checksum_bad then reject("bad_checksum") end
    return finish(info)
  end

  if ptype == TYPE_ACK then
    if len < COMMON_LEN + ACK_LEN then
      root:add_proto_expert_info(ex.truncated,
        string.format("ACK of %d bytes is shorter than %d", len, COMMON_LEN + ACK_LEN))
      reject("truncated")
      undecoded(COMMON_LEN)
      return finish("Tern " .. summary .. " (truncated)")
    end
    psn_item:append_text(" (cumulative)")
    psn_item:add(f.cumulative, tvb(12, 4), psn):set_generated()
    local ack_tree = root:add(tvb(20, ACK_LEN), "ACK header")
    local sack_base = tvb(20, 4):uint()
    ack_tree:add(f.sack_base, tvb(20, 4))
    local bitmap_tree = ack_tree:add(tvb(24, 16), "SACK bitmap")
    bitmap_tree:add(f.sack_bitmap0, tvb(24, 8))
    bitmap_tree:add(f.sack_bitmap1, tvb(32, 8))
    local set = sack_set_bits(tvb)
    local ranges = sack_ranges_text(sack_base, set)
    bitmap_tree:append_text(string.format(": %d PSNs%s", #set,
      #set > 0 and (" [" .. ranges .. "]") or ""))
    bitmap_tree:add(f.sack_count, tvb(24, 16), #set):set_generated()
    bitmap_tree:add(f.sack_ranges, tvb(24, 16), ranges):set_generated()
    for _, i in ipairs(set) do
      local byte_range = tvb(sack_byte(i), 1)
      local sacked = (sack_base + i) % 4294967296
      local item = bitmap_tree:add(f.sack_psn, byte_range, sacked)
      item:set_generated()
      item:append_text(string.format(" (base + %d)", i))
      item:add(f.sack_offset, byte_range, i):set_generated()
    end
    ack_tree:add(f.window_end, tvb(40, 4))
    ack_tree:add(f.ack_ts_echo, tvb(44, 4))
    ack_tree:add(f.ack_echo_entropy, tvb(48, 2))
    ack_tree:add(f.ce_count, tvb(50, 2))
    local info = string.format("ACK cum=%d qpn=0x%x<-0x%x sack_base=%d sack=[%s] wnd_end=%d",
      psn, dst_qpn, src_qpn, sack_base, ranges, tvb(40, 4):uint())
    local ce = tvb(50, 2):uint()
    if ce > 0 then info = info .. string.format(" ce=%d", ce) end
    info = info .. flag_suffix
    local ack_end = COMMON_LEN + ACK_LEN
    if band(flags, FLAG_TELEMETRY) ~= 0 then
      if len < ack_end + TELEMETRY_LEN then
        root:add_proto_expert_info(ex.truncated,
          string.format("ACK of %d bytes is shorter than %d with its telemetry echo", len,
            ack_end + TELEMETRY_LEN))
        reject("truncated")
        undecoded(ack_end)
        return finish("Tern " .. summary .. " (truncated)")
      end
      info = info .. string.format(" hops=%d", telemetry_at(ack_end, false))
      ack_end = ack_end + TELEMETRY_LEN
    end
    if band(flags, DATA_ONLY_FLAGS) ~= 0 then
      flags_item:add_proto_expert_info(ex.bad_flags,
        string.format("%s is illegal on an ACK", flags_text(band(flags, DATA_ONLY_FLAGS))))
      reject("bad_flags")
    end
    if len > ack_end then
      root:add_proto_expert_info(ex.bad_length,
        string.format("%d trailing bytes after a fixed-size ACK", len - ack_end))
      reject("bad_length")
      undecoded(ack_end)
    end
    if checksum_bad then reject("bad_checksum") end
    return finish(info)
  end

  -- NACK.
  if len < COMMON_LEN + NACK_LEN then
    root:add_proto_expert_info(ex.truncated,
      string.format("NACK of %d bytes is shorter than %d", len, COMMON_LEN + NACK_LEN))
    reject("truncated")
    undecoded(COMMON_LEN)
    return finish("Tern " .. summary .. " (truncated)")
  end
  psn_item:append_text(" (refused)")
  local reason = tvb(20, 1):uint()
  local nack_tree = root:add(tvb(20, NACK_LEN), "NACK header")
  local reason_item = nack_tree:add(f.reason, tvb(20, 1))
  nack_tree:add(f.nack_reserved, tvb(21, 1))
  nack_tree:add(f.nack_echo_entropy, tvb(22, 2))
  nack_tree:add(f.nack_ts_echo, tvb(24, 4))
  nack_tree:add(f.retry_after_ns, tvb(28, 4))
  local reason_name = name_or_number(reason_names, reason)
  nack_tree:append_text(": " .. reason_name)
  local info = string.format("NACK %s psn=%d qpn=0x%x<-0x%x", reason_name, psn, dst_qpn, src_qpn)
  if reason == NACK_NO_RECEIVE_BUFFER then
    info = info .. string.format(" retry_after=%dns", tvb(28, 4):uint())
  end
  info = info .. flag_suffix
  local nack_illegal = band(flags, DATA_ONLY_FLAGS + FLAG_CNP + FLAG_TELEMETRY)
  if nack_illegal ~= 0 then
    flags_item:add_proto_expert_info(ex.bad_flags,
      string.format("%s is illegal on a NACK", flags_text(nack_illegal)))
    reject("bad_flags")
  end
  if len > COMMON_LEN + NACK_LEN then
    root:add_proto_expert_info(ex.bad_length,
      string.format("%d trailing bytes after a fixed-size NACK", len - COMMON_LEN - NACK_LEN))
    reject("bad_length")
    undecoded(COMMON_LEN + NACK_LEN)
  end
  if reason_names[reason] == nil then
    reason_item:add_proto_expert_info(ex.unknown_opcode, string.format("Unknown NACK reason %d",
      reason))
    reject("unknown_opcode")
  else
    -- One message per reason, so the Expert Information dialog groups them.
    reason_item:add_proto_expert_info(ex.nack, "NACK " .. reason_name)
  end
  if checksum_bad then reject("bad_checksum") end
  return finish(info)
end

-- The length of the first Tern packet from `at`, as FirstTernPacket in
-- wire.cc: up to the end of its headers when it says another follows, the
-- rest of the datagram otherwise.
local function first_packet_len(tvb, at)
  local rest = tvb:len() - at
  if rest < COMMON_LEN then return rest end
  local flags = tvb(at + 2, 2):uint()
  if band(flags, FLAG_COALESCED) == 0 then return rest end
  local ptype = tvb(at + 1, 1):uint()
  local length
  if ptype == TYPE_ACK then
    length = COMMON_LEN + ACK_LEN
    if band(flags, FLAG_TELEMETRY) ~= 0 then length = length + TELEMETRY_LEN end
  elseif ptype == TYPE_NACK then
    length = COMMON_LEN + NACK_LEN
  else
    return rest
  end
  return length < rest and length or rest
end

function tern.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol:set("Tern")
  local len = tvb:len()
  local infos = {}
  local at = 0
  repeat
    local n = first_packet_len(tvb, at)
    local piece = (at == 0 and n == len) and tvb or tvb(at, n):tvb()
    local complete = at + n < len or tvb:reported_length_remaining() == len
    infos[#infos + 1] = dissect_packet(piece, pinfo, tree, complete)
    at = at + n
  until at >= len
  pinfo.cols.info:set(table.concat(infos, " | "))
  return len
end

register_ports()
udp_table:add_for_decode_as(tern)
