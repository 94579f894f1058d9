package io.overlay.etcd;

import static io.overlay.core.net.Ipv4.parse;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.EtcdServer;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Endpoints written as host names, as operators write them ({@code http://etcd1.example.com:2379,...}): the client
 * resolves the name, here {@code localhost}, and works as with an address; a name that does not resolve is one
 * failed endpoint among others, not a failed start.
 */
class EndpointNamesTest {
    @Test
    void aHostNameEndpointIsResolvedAndAnUnresolvableOneIsSkipped() throws Exception {
        try (EtcdServer server = EtcdServer.launch()) {
            server.etcdctl("put", "/coreos.com/network/config", "{\"Network\":\"100.64.0.0/16\"}");
            final String byName = server.endpoint().replace("127.0.0.1", "localhost");
            // .invalid never resolves (RFC 2606): the client must go on with the endpoint that does
            final EtcdSettings s = EtcdSettings.builder().endpoints("http://etcd.invalid:2379", byName)
                .requestTimeout(Duration.ofSeconds(3)).build();
            try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(s)) {
                a.awaitNetworkConfig();
                final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
                final RecordingListener events = new RecordingListener();
                a.start(lease, events);
                server.etcdctl("put", "/coreos.com/network/subnets/100.64.250.0-24", "{\"PublicIP\":\"198.18.0.9\"}");
                await().atMost(Duration.ofSeconds(15)).until(() -> events.peers.size() == 1);
                assertThat(server.etcdctl("get", "--print-value-only", "/coreos.com/network/subnets/" + lease.key())
                    .strip()).isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
            }
        }
    }
}
