// The control channel's contract, on both backends over loopback TCP: setups
// cross and are checked, barriers meet, messages arrive whole, and every peer
// fault (absent, silent, closing, speaking another version or another
// protocol) ends in a bounded wait and an error that says what happened.
//
// Peers that misbehave are plain sockets writing raw bytes. Ports are
// ephemeral (bind port 0), so runs never collide.
#include "dataplane/control/control_channel.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::control {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kShortTimeout{200};
// Long enough for a loaded CI machine under sanitizers; the tests that pass
// never wait for it.
constexpr milliseconds kPatientTimeout{5000};

std::string Message(const absl::Status& status) { return std::string(status.message()); }

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

HostSetup MakeSetup(uint8_t host, uint32_t qps, bool ipv6 = false) {
  HostSetup setup;
  setup.endpoint.mac.bytes = {0x02, 0x00, 0x00, 0x00, 0x00, host};
  if (ipv6) {
    setup.endpoint.ip =
        IpAddress::V6({0xfd, 0x00, 0x74, 0x65, 0x72, 0x6e, 0, 0, 0, 0, 0, 0, 0, 0, 0, host});
  } else {
    setup.endpoint.ip = IpAddress::V4(0x0A000000u | host);
  }
  setup.congestion_control = "dcqcn:g=0.0039";
  setup.workload = absl::StrCat("write_bw size=65536 iters=1000 qps=", qps);
  for (uint32_t i = 0; i < qps; ++i) {
    setup.qps.push_back({.qp_num = 0x100 + i,
                         .psn = 1000u * host + i,
                         .addr = 0x7F0000000000ull + (uint64_t{host} << 32) + i * 0x10000,
                         .length = 65536,
                         .rkey = 0x1000u * host + i});
  }
  return setup;
}

// --- Raw peers ----------------------------------------------------------------

UniqueFd RawSocket(int family = AF_INET) {
  return UniqueFd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  return address;
}

UniqueFd RawConnect(uint16_t port) {
  UniqueFd fd = RawSocket();
  const sockaddr_in address = Loopback(port);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ADD_FAILURE() << "raw connect to port " << port << " failed: " << errno;
  }
  return fd;
}

// A loopback port with a bound socket that does not listen: connecting to it
// is refused, and nobody else can take the port while `holder` lives.
struct RefusingPort {
  UniqueFd holder;
  uint16_t port = 0;
};
RefusingPort ReserveRefusingPort() {
  RefusingPort reserved{RawSocket(), 0};
  sockaddr_in address = Loopback(0);
  socklen_t length = sizeof(address);
  EXPECT_EQ(bind(reserved.holder.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
  EXPECT_EQ(getsockname(reserved.holder.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  reserved.port = ntohs(address.sin_port);
  return reserved;
}

void WriteAll(int fd, const std::vector<uint8_t>& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << errno;
    done += static_cast<size_t>(n);
  }
}

std::vector<uint8_t> ReadExactly(int fd, size_t count) {
  std::vector<uint8_t> bytes(count);
  size_t done = 0;
  while (done < count) {
    const ssize_t n = recv(fd, bytes.data() + done, count - done, 0);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

// Written byte by byte, independently of control_wire.cc, so the tests pin
// the format rather than echo the encoder.
std::vector<uint8_t> RawHeader(uint16_t version, uint16_t type, uint32_t length,
                               uint32_t magic = 0x546E4374) {
  return {static_cast<uint8_t>(magic >> 24),  static_cast<uint8_t>(magic >> 16),
          static_cast<uint8_t>(magic >> 8),   static_cast<uint8_t>(magic),
          static_cast<uint8_t>(version >> 8), static_cast<uint8_t>(version),
          static_cast<uint8_t>(type >> 8),    static_cast<uint8_t>(type),
          static_cast<uint8_t>(length >> 24), static_cast<uint8_t>(length >> 16),
          static_cast<uint8_t>(length >> 8),  static_cast<uint8_t>(length)};
}
constexpr uint16_t kHostSetupType = 1;

// --- Fixture ------------------------------------------------------------------

struct ChannelPair {
  ControlChannel server;
  ControlChannel client;
};

struct ExchangeResults {
  absl::StatusOr<HostSetup> server;
  absl::StatusOr<HostSetup> client;
};

class ControlChannelTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (absl::Status available = CheckBackend(GetParam()); !available.ok()) {
      GTEST_SKIP() << BackendName(GetParam()) << " is unavailable here: " << available;
    }
  }

  ChannelOptions Options(milliseconds timeout = kPatientTimeout) const {
    return {.timeout = timeout, .backend = GetParam()};
  }

  absl::StatusOr<ControlListener> Listen(const std::string& address = "127.0.0.1",
                                         milliseconds timeout = kPatientTimeout) const {
    return ControlListener::Listen(address, 0, Options(timeout));
  }

  // The kernel completes the handshake from the listen queue, so the client
  // connects before the server accepts, all on this thread.
  absl::StatusOr<ChannelPair> ConnectPair(const std::string& address = "127.0.0.1",
                                          milliseconds timeout = kPatientTimeout) const {
    absl::StatusOr<ControlListener> listener = Listen(address, timeout);
    if (!listener.ok()) return listener.status();
    absl::StatusOr<ControlChannel> client =
        ControlChannel::Connect(address, listener->port(), Options(timeout));
    if (!client.ok()) return client.status();
    absl::StatusOr<ControlChannel> server = listener->Accept();
    if (!server.ok()) return server.status();
    return ChannelPair{*std::move(server), *std::move(client)};
  }

  static ExchangeResults ExchangeBoth(ChannelPair& pair, const HostSetup& server_setup,
                                      const HostSetup& client_setup) {
    ExchangeResults results{absl::UnknownError("not run"), absl::UnknownError("not run")};
    std::thread server([&] { results.server = pair.server.Exchange(server_setup); });
    results.client = pair.client.Exchange(client_setup);
    server.join();
    return results;
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, ControlChannelTest,
                         ::testing::Values(Backend::kIoUring, Backend::kSockets),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param == Backend::kIoUring ? "IoUring" : "Sockets";
                         });

// --- Set-up that works ---------------------------------------------------------

TEST_P(ControlChannelTest, ExchangesSetupsOverIpv4Loopback) {
  absl::StatusOr<ChannelPair> connected = ConnectPair();
  ASSERT_TRUE(connected.ok()) << connected.status();
  ChannelPair& pair = *connected;
  EXPECT_EQ(pair.server.backend(), GetParam());
  EXPECT_EQ(pair.client.backend(), GetParam());
  EXPECT_TRUE(pair.server.is_server());
  EXPECT_FALSE(pair.client.is_server());
  EXPECT_THAT(pair.server.peer(), StartsWith("127.0.0.1:"));

  const HostSetup server_setup = MakeSetup(1, 4);
  const HostSetup client_setup = MakeSetup(2, 4);
  ExchangeResults results = ExchangeBoth(pair, server_setup, client_setup);
  ASSERT_TRUE(results.server.ok()) << results.server.status();
  ASSERT_TRUE(results.client.ok()) << results.client.status();
  EXPECT_EQ(*results.server, client_setup);
  EXPECT_EQ(*results.client, server_setup);
}

TEST_P(ControlChannelTest, ExchangesSetupsOverIpv6Loopback) {
  if (!Listen("::1").ok()) GTEST_SKIP() << "no IPv6 loopback here";
  absl::StatusOr<ChannelPair> connected = ConnectPair("::1");
  ASSERT_TRUE(connected.ok()) << connected.status();
  ChannelPair& pair = *connected;
  EXPECT_THAT(pair.server.peer(), StartsWith("[::1]:"));
  EXPECT_THAT(pair.client.peer(), StartsWith("[::1]:"));

  const HostSetup server_setup = MakeSetup(1, 2, /*ipv6=*/true);
  const HostSetup client_setup = MakeSetup(2, 2, /*ipv6=*/true);
  ExchangeResults results = ExchangeBoth(pair, server_setup, client_setup);
  ASSERT_TRUE(results.server.ok()) << results.server.status();
  ASSERT_TRUE(results.client.ok()) << results.client.status();
  EXPECT_EQ(*results.server, client_setup);
  EXPECT_EQ(*results.client, server_setup);
}

TEST_P(ControlChannelTest, ListenerOnAnyAddressAcceptsAnIpv4Client) {
  absl::StatusOr<ControlListener> listener = Listen("");
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<ControlChannel> client =
      ControlChannel::Connect("127.0.0.1", listener->port(), Options());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ControlChannel> server = listener->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  // A dual-stack listener sees an IPv4-mapped address; it prints as IPv4.
  EXPECT_THAT(server->peer(), StartsWith("127.0.0.1:"));
}

TEST_P(ControlChannelTest, ConnectsByHostName) {
  // "localhost" may resolve to ::1 first; a refused address moves on to the next.
  absl::StatusOr<ControlListener> listener = Listen("127.0.0.1");
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<ControlChannel> client =
      ControlChannel::Connect("localhost", listener->port(), Options());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(listener->Accept().ok());
}

TEST_P(ControlChannelTest, ConnectRetriesUntilTheServerListens) {
  RefusingPort reserved = ReserveRefusingPort();
  absl::StatusOr<ControlChannel> client = absl::UnknownError("not run");
  std::thread client_thread(
      [&] { client = ControlChannel::Connect("127.0.0.1", reserved.port, Options()); });
  std::this_thread::sleep_for(milliseconds(50));  // the client is refused meanwhile
  reserved.holder = UniqueFd();
  absl::StatusOr<ControlListener> listener =
      ControlListener::Listen("127.0.0.1", reserved.port, Options());
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<ControlChannel> server = listener->Accept();
  client_thread.join();
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(client.ok()) << client.status();
}

TEST_P(ControlChannelTest, BarrierWaitsForThePeer) {
  absl::StatusOr<ChannelPair> connected = ConnectPair();
  ASSERT_TRUE(connected.ok()) << connected.status();
  ChannelPair& pair = *connected;
  absl::Status server_status = absl::UnknownError("not run");
  std::thread server([&] {
    std::this_thread::sleep_for(milliseconds(100));
    server_status = pair.server.Barrier("start");
  });
  const Clock::time_point start = Clock::now();
  const absl::Status client_status = pair.client.Barrier("start");
  const milliseconds waited = Since(start);
  server.join();
  EXPECT_TRUE(server_status.ok()) << server_status;
  EXPECT_TRUE(client_status.ok()) << client_status;
  EXPECT_GE(waited, milliseconds(90));
}

TEST_P(ControlChannelTest, SendsAndReceivesAOneMebibyteMessage) {
  absl::StatusOr<ChannelPair> connected = ConnectPair();
  ASSERT_TRUE(connected.ok()) << connected.status();
  ChannelPair& pair = *connected;
  std::vector<uint8_t> results(1 << 20);
  for (size_t i = 0; i < results.size(); ++i) results[i] = static_cast<uint8_t>(i * 131 + i / 4096);
  absl::Status sent = absl::UnknownError("not run");
  std::thread server([&] { sent = pair.server.Send(results); });
  absl::StatusOr<std::vector<uint8_t>> received = pair.client.Receive();
  server.join();
  ASSERT_TRUE(sent.ok()) << sent;
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_TRUE(*received == results) << "1 MiB message arrived altered";

  // And an empty one the other way.
  ASSERT_TRUE(pair.client.Send({}).ok());
  absl::StatusOr<std::vector<uint8_t>> empty = pair.server.Receive();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
}

TEST_P(ControlChannelTest, SignalsDoNotDisturbABlockedReceive) {
  absl::StatusOr<ChannelPair> connected = ConnectPair();
  ASSERT_TRUE(connected.ok()) << connected.status();
  ChannelPair& pair = *connected;
  // A handler without SA_RESTART, so blocking calls see EINTR.
  struct sigaction interrupt {};
  struct sigaction previous {};
  interrupt.sa_handler = [](int) {};
  sigemptyset(&interrupt.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &interrupt, &previous), 0);

  absl::StatusOr<std::vector<uint8_t>> received = absl::UnknownError("not run");
  std::atomic<bool> done = false;
  std::thread receiver([&] {
    received = pair.client.Receive();
    done = true;
  });
  for (int i = 0; i < 20 && !done; ++i) {
    pthread_kill(receiver.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(milliseconds(2));
  }
  const std::vector<uint8_t> message = {1, 2, 3};
  const absl::Status sent = pair.server.Send(message);
  receiver.join();
  sigaction(SIGUSR1, &previous, nullptr);
  ASSERT_TRUE(sent.ok()) << sent;
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(*received, message);
}

TEST_P(ControlChannelTest, InvalidLocalSetupIsRefusedBeforeAnythingIsSent) {
  absl::StatusOr<ChannelPair> connected = ConnectPair();
  ASSERT_TRUE(connected.ok()) << connected.status();
  ChannelPair& pair = *connected;
  HostSetup bad = MakeSetup(1, 1);
  bad.mtu = 0;
  absl::StatusOr<HostSetup> result = pair.client.Exchange(bad);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(result.status()),
            "control: our HostSetup is invalid: mtu 0 outside [256, 9000]");
  // Nothing crossed, so the channel still works.
  ExchangeResults results = ExchangeBoth(pair, MakeSetup(1, 1), MakeSetup(2, 1));
  EXPECT_TRUE(results.server.ok()) << results.server.status();
  EXPECT_TRUE(results.client.ok()) << results.client.status();
}

// --- Setups that disagree ---------------------------------------------------------

struct MismatchCase {
  const char* name;
  void (*mutate_client)(HostSetup&);
  std::string server_error;  // the client's error swaps "ours" and "peer's"
  std::string client_error;
};

TEST_P(ControlChannelTest, MismatchedSetupsAreRefusedOnBothSidesNamingTheField) {
  const MismatchCase cases[] = {
      {"mtu", [](HostSetup& s) { s.mtu = 1500; }, "control: mtu mismatch: ours 4096, peer's 1500",
       "control: mtu mismatch: ours 1500, peer's 4096"},
      {"cc", [](HostSetup& s) { s.congestion_control = "fixed"; },
       "control: congestion_control mismatch: ours \"dcqcn:g=0.0039\", peer's \"fixed\"",
       "control: congestion_control mismatch: ours \"fixed\", peer's \"dcqcn:g=0.0039\""},
      {"workload", [](HostSetup& s) { s.workload = "read_lat size=8"; },
       "control: workload mismatch: ours \"write_bw size=65536 iters=1000 qps=2\", peer's "
       "\"read_lat size=8\"",
       "control: workload mismatch: ours \"read_lat size=8\", peer's \"write_bw size=65536 "
       "iters=1000 qps=2\""},
      {"qp count", [](HostSetup& s) { s.qps.pop_back(); },
       "control: QP count mismatch: ours 2, peer's 1",
       "control: QP count mismatch: ours 1, peer's 2"},
  };
  for (const MismatchCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<ChannelPair> connected = ConnectPair();
    ASSERT_TRUE(connected.ok()) << connected.status();
    ChannelPair& pair = *connected;
    HostSetup client_setup = MakeSetup(2, 2);
    c.mutate_client(client_setup);
    ExchangeResults results = ExchangeBoth(pair, MakeSetup(1, 2), client_setup);
    EXPECT_EQ(results.server.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Message(results.server.status()), c.server_error);
    EXPECT_EQ(results.client.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Message(results.client.status()), c.client_error);
  }
}

TEST_P(ControlChannelTest, BarrierRefusesANameMismatch) {
  absl::StatusOr<ChannelPair> connected = ConnectPair();
  ASSERT_TRUE(connected.ok()) << connected.status();
  ChannelPair& pair = *connected;
  absl::Status server_status = absl::UnknownError("not run");
  std::thread server([&] { server_status = pair.server.Barrier("warmup done"); });
  const absl::Status client_status = pair.client.Barrier("results");
  server.join();
  EXPECT_EQ(Message(server_status),
            "control: barrier name mismatch: ours \"warmup done\", peer's \"results\"");
  EXPECT_EQ(Message(client_status),
            "control: barrier name mismatch: ours \"results\", peer's \"warmup done\"");
}

TEST_P(ControlChannelTest, ReceiveRefusesAnotherMessageType) {
  absl::StatusOr<ChannelPair> connected = ConnectPair(/*address=*/"127.0.0.1", kShortTimeout);
  ASSERT_TRUE(connected.ok()) << connected.status();
  ChannelPair& pair = *connected;
  // The server's Barrier times out waiting for the client's; only its send matters.
  std::thread server([&] { (void)pair.server.Barrier("start"); });
  absl::StatusOr<std::vector<uint8_t>> received = pair.client.Receive();
  server.join();
  EXPECT_EQ(Message(received.status()),
            "control: expected Opaque during Receive, peer sent Barrier");
}

// --- Peers that are absent, silent or closing --------------------------------------------

TEST_P(ControlChannelTest, ConnectGivesUpWhenNobodyListens) {
  RefusingPort reserved = ReserveRefusingPort();
  const Clock::time_point start = Clock::now();
  absl::StatusOr<ControlChannel> client =
      ControlChannel::Connect("127.0.0.1", reserved.port, Options(kShortTimeout));
  const milliseconds waited = Since(start);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Message(client.status()),
            absl::StrCat("control: cannot connect to 127.0.0.1:", reserved.port,
                         ": Connection refused (retried for 200 ms)"));
  EXPECT_GE(waited, kShortTimeout);
  EXPECT_LT(waited, milliseconds(900));
}

TEST_P(ControlChannelTest, AcceptGivesUpWhenNobodyConnects) {
  absl::StatusOr<ControlListener> listener = Listen("127.0.0.1", kShortTimeout);
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_EQ(listener->backend(), GetParam());
  const Clock::time_point start = Clock::now();
  absl::StatusOr<ControlChannel> server = listener->Accept();
  const milliseconds waited = Since(start);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(
      Message(server.status()),
      absl::StrCat("control: no peer connected to 127.0.0.1:", listener->port(), " within 200 ms"));
  EXPECT_GE(waited, kShortTimeout);
  EXPECT_LT(waited, milliseconds(900));
}

TEST_P(ControlChannelTest, SilentPeerTimesOut) {
  absl::StatusOr<ControlListener> listener = Listen("127.0.0.1", kShortTimeout);
  ASSERT_TRUE(listener.ok()) << listener.status();
  UniqueFd silent = RawConnect(listener->port());
  absl::StatusOr<ControlChannel> server = listener->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  const Clock::time_point start = Clock::now();
  absl::StatusOr<HostSetup> result = server->Exchange(MakeSetup(1, 1));
  const milliseconds waited = Since(start);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Message(result.status()),
            absl::StrCat("control: timed out after 200 ms during Exchange: peer ", server->peer(),
                         " sent nothing"));
  EXPECT_LT(waited, milliseconds(900));
}

TEST_P(ControlChannelTest, PeerStallingMidMessageTimesOut) {
  absl::StatusOr<ControlListener> listener = Listen("127.0.0.1", kShortTimeout);
  ASSERT_TRUE(listener.ok()) << listener.status();
  UniqueFd peer = RawConnect(listener->port());
  absl::StatusOr<ControlChannel> server = listener->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<uint8_t> bytes = RawHeader(1, kHostSetupType, 100);
  bytes.resize(bytes.size() + 5);
  WriteAll(peer.get(), bytes);
  absl::StatusOr<HostSetup> result = server->Exchange(MakeSetup(1, 1));
  EXPECT_EQ(Message(result.status()),
            absl::StrCat("control: timed out after 200 ms during Exchange: peer ", server->peer(),
                         " sent 5 of 100 bytes of the HostSetup message"));
}

TEST_P(ControlChannelTest, PeerClosingBeforeExchangeIsReported) {
  absl::StatusOr<ChannelPair> connected = ConnectPair();
  ASSERT_TRUE(connected.ok()) << connected.status();
  ChannelPair& pair = *connected;
  { ControlChannel gone = std::move(pair.client); }
  absl::StatusOr<HostSetup> result = pair.server.Exchange(MakeSetup(1, 1));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Message(result.status()), "control: peer closed the connection during Exchange");
}

TEST_P(ControlChannelTest, PeerClosingMidExchangeIsReported) {
  // A raw server that reads the client's setup, then hangs up without answering.
  UniqueFd raw_listener = RawSocket();
  sockaddr_in address = Loopback(0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(raw_listener.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(listen(raw_listener.get(), 1), 0);
  ASSERT_EQ(getsockname(raw_listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  absl::StatusOr<ControlChannel> client =
      ControlChannel::Connect("127.0.0.1", ntohs(address.sin_port), Options());
  ASSERT_TRUE(client.ok()) << client.status();
  UniqueFd raw_server(accept(raw_listener.get(), nullptr, nullptr));
  ASSERT_TRUE(raw_server.valid());

  std::thread hang_up([&] {
    (void)ReadExactly(raw_server.get(), 12);
    raw_server = UniqueFd();
  });
  absl::StatusOr<HostSetup> result = client->Exchange(MakeSetup(2, 3));
  hang_up.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Message(result.status()), "control: peer closed the connection during Exchange");
}

TEST_P(ControlChannelTest, TruncatedMessageThenCloseIsReported) {
  absl::StatusOr<ControlListener> listener = Listen();
  ASSERT_TRUE(listener.ok()) << listener.status();
  UniqueFd peer = RawConnect(listener->port());
  absl::StatusOr<ControlChannel> server = listener->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<uint8_t> bytes = RawHeader(1, kHostSetupType, 100);
  bytes.resize(bytes.size() + 10);
  WriteAll(peer.get(), bytes);
  peer = UniqueFd();
  absl::StatusOr<HostSetup> result = server->Exchange(MakeSetup(1, 1));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Message(result.status()),
            "control: peer closed the connection during Exchange after 10 of 100 bytes of the "
            "HostSetup message");
}

TEST_P(ControlChannelTest, SendToAClosedPeerFailsWithoutSigpipe) {
  absl::StatusOr<ChannelPair> connected = ConnectPair();
  ASSERT_TRUE(connected.ok()) << connected.status();
  ChannelPair& pair = *connected;
  { ControlChannel gone = std::move(pair.client); }
  const std::vector<uint8_t> big(1 << 20, 0x5A);
  absl::Status status;
  // The first send may still land in the kernel; the peer's reset fails a later one.
  for (int attempt = 0; attempt < 4 && status.ok(); ++attempt) status = pair.server.Send(big);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(status), StartsWith("control: peer closed the connection during Send ("));
}

// --- Peers that speak something else -------------------------------------------------

TEST_P(ControlChannelTest, PeerOfAnotherVersionIsRefusedAndStillAnswered) {
  absl::StatusOr<ControlListener> listener = Listen();
  ASSERT_TRUE(listener.ok()) << listener.status();
  UniqueFd peer = RawConnect(listener->port());
  absl::StatusOr<ControlChannel> server = listener->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<uint8_t> bytes = RawHeader(2, kHostSetupType, 4);
  bytes.resize(bytes.size() + 4);
  WriteAll(peer.get(), bytes);
  absl::StatusOr<HostSetup> result = server->Exchange(MakeSetup(1, 1));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Message(result.status()), "control: peer sent version 2, this build speaks 1");
  // The server still sent its setup, so the v2 peer can report the mismatch too.
  const std::vector<uint8_t> answer = ReadExactly(peer.get(), 12);
  ASSERT_EQ(answer.size(), 12u);
  EXPECT_EQ(std::vector<uint8_t>(answer.begin(), answer.begin() + 8),
            std::vector<uint8_t>({0x54, 0x6E, 0x43, 0x74, 0x00, 0x01, 0x00, 0x01}));

  // The stream is out of step now: later calls say why.
  EXPECT_EQ(Message(server->Barrier("next")),
            "control: channel unusable after an earlier error (control: peer sent version 2, "
            "this build speaks 1)");
}

TEST_P(ControlChannelTest, TruncatedHostSetupIsRefused) {
  absl::StatusOr<ControlListener> listener = Listen();
  ASSERT_TRUE(listener.ok()) << listener.status();
  UniqueFd peer = RawConnect(listener->port());
  absl::StatusOr<ControlChannel> server = listener->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<uint8_t> bytes = RawHeader(1, kHostSetupType, 10);
  bytes.resize(bytes.size() + 10);
  WriteAll(peer.get(), bytes);
  absl::StatusOr<HostSetup> result = server->Exchange(MakeSetup(1, 1));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Message(result.status()), "control: truncated HostSetup: need 23 bytes, have 10");
}

TEST_P(ControlChannelTest, GarbageMagicIsRefused) {
  absl::StatusOr<ControlListener> listener = Listen();
  ASSERT_TRUE(listener.ok()) << listener.status();
  UniqueFd peer = RawConnect(listener->port());
  absl::StatusOr<ControlChannel> server = listener->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  WriteAll(peer.get(), std::vector<uint8_t>(http.begin(), http.end()));
  absl::StatusOr<HostSetup> result = server->Exchange(MakeSetup(1, 1));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Message(result.status()),
            "control: peer sent bad magic 0x47455420 (expected 0x546e4374): not a Tern control "
            "channel");
}

TEST_P(ControlChannelTest, OversizedLengthIsRefusedWithoutWaitingForTheBody) {
  absl::StatusOr<ControlListener> listener = Listen();
  ASSERT_TRUE(listener.ok()) << listener.status();
  UniqueFd peer = RawConnect(listener->port());
  absl::StatusOr<ControlChannel> server = listener->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  WriteAll(peer.get(), RawHeader(1, /*Opaque*/ 3, 0xFFFFFFFF));
  absl::StatusOr<std::vector<uint8_t>> received = server->Receive();
  EXPECT_EQ(Message(received.status()),
            "control: peer's Opaque message claims 4294967295 bytes, limit 67108864");
}

// --- Outside the parameterized backends ----------------------------------------------

TEST(ControlBackendTest, AutoPicksABackendThatWorks) {
  absl::StatusOr<ControlListener> listener =
      ControlListener::Listen("127.0.0.1", 0, {.timeout = kPatientTimeout});
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_NE(listener->backend(), Backend::kAuto);
  const Backend expected =
      CheckBackend(Backend::kIoUring).ok() ? Backend::kIoUring : Backend::kSockets;
  EXPECT_EQ(listener->backend(), expected);
  EXPECT_TRUE(CheckBackend(Backend::kSockets).ok());
}

TEST(ControlBackendTest, BackendsHaveNames) {
  EXPECT_STREQ(BackendName(Backend::kAuto), "auto");
  EXPECT_STREQ(BackendName(Backend::kIoUring), "io_uring");
  EXPECT_STREQ(BackendName(Backend::kSockets), "sockets");
}

TEST(ControlBackendTest, ListenRefusesAHostName) {
  EXPECT_THAT(Message(ControlListener::Listen("not-an-ip", 0, {}).status()),
              StartsWith("control: \"not-an-ip\" is not an IPv4 or IPv6 address: "));
}

}  // namespace
}  // namespace tern::control
