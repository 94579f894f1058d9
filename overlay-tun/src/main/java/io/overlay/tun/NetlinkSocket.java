package io.overlay.tun;

import com.sun.jna.LastErrorException;
import java.io.Closeable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A blocking {@code NETLINK_ROUTE} socket for configuration requests, opened through JNA. It lives in the network
 * namespace of the thread that opened it. Requests are answered in order; each answer is matched by sequence number.
 * Acknowledgements are capped ({@code NETLINK_CAP_ACK}) and extended ({@code NETLINK_EXT_ACK}) so a refusal carries the
 * kernel's own error text. A receive timeout of 5 s keeps a lost answer from hanging the caller.
 *
 * <p>Not thread-safe; configuration is rare and each caller opens its own socket.
 */
final class NetlinkSocket implements Closeable {
    private static final int RECEIVE_BUFFER_BYTES = 64 * 1024;
    private static final int TIMEOUT_SECONDS = 5;

    private final int fd;
    private final ByteBuffer receive = ByteBuffer.allocateDirect(RECEIVE_BUFFER_BYTES).order(ByteOrder.nativeOrder());
    private int sequence = 1;
    private String lastKernelMessage;

    private NetlinkSocket(final int fd) {
        this.fd = fd;
    }

    /**
     * Opens a route netlink socket in the calling thread's network namespace.
     *
     * @return the socket
     * @throws TunException if the socket cannot be created
     */
    static NetlinkSocket open() throws TunException {
        final int fd;
        try {
            fd = LibC.socket(LibC.AF_NETLINK, LibC.SOCK_RAW | LibC.SOCK_CLOEXEC, LibC.NETLINK_ROUTE);
        } catch (LastErrorException e) {
            throw new TunException(TunException.Reason.OTHER, e.getErrorCode(),
                "cannot open a rtnetlink socket: " + LibC.describe(e.getErrorCode()), e);
        }
        try {
            final ByteBuffer one = ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder()).putInt(0, 1);
            LibC.setsockopt(fd, LibC.SOL_NETLINK, LibC.NETLINK_CAP_ACK, one, 4);
            LibC.setsockopt(fd, LibC.SOL_NETLINK, LibC.NETLINK_EXT_ACK, one, 4);
            final ByteBuffer timeval = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder())
                .putLong(0, TIMEOUT_SECONDS).putLong(8, 0);
            LibC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_RCVTIMEO, timeval, 16);
        } catch (LastErrorException e) {
            LibC.closeQuietly(fd);
            throw new TunException(TunException.Reason.OTHER, e.getErrorCode(),
                "cannot set up the rtnetlink socket: " + LibC.describe(e.getErrorCode()), e);
        }
        return new NetlinkSocket(fd);
    }

    /**
     * Returns the next sequence number for a request.
     *
     * @return a positive number, increasing per request
     */
    int nextSequence() {
        return sequence++;
    }

    /**
     * Returns the kernel's extended-ack text of the last refused request.
     *
     * @return the text, or {@code null} if the kernel gave none
     */
    String lastKernelMessage() {
        return lastKernelMessage;
    }

    /**
     * Sends a request that asks for an acknowledgement and waits for it.
     *
     * @param request a finished message whose sequence number came from {@link #nextSequence()}
     * @return 0 on success, else the positive errno the kernel answered (e.g. 17 for EEXIST)
     * @throws TunException if sending or receiving fails or no answer comes within 5 s
     */
    int execute(final ByteBuffer request) throws TunException {
        final int seq = send(request);
        lastKernelMessage = null;
        final int[] errno = new int[1];
        receiveAnswer(seq, (type, at, len) -> {
            if (type != Rtnetlink.NLMSG_ERROR) {
                return false;
            }
            errno[0] = ackErrno(at, len);
            return true;
        });
        return errno[0];
    }

    /**
     * Queries one interface by name.
     *
     * @param nameBytes the interface name's bytes, without NUL
     * @return the link, or {@code null} if no interface has that name in this namespace
     * @throws TunException if the query fails for another reason
     */
    LinkInfo getLink(final byte[] nameBytes) throws TunException {
        final int seq = send(Rtnetlink.getLink(nextSequence(), nameBytes));
        final LinkInfo[] found = new LinkInfo[1];
        receiveAnswer(seq, (type, at, len) -> {
            if (type == Rtnetlink.RTM_NEWLINK) {
                found[0] = LinkInfo.parse(receive, at);
                return true;
            }
            if (type == Rtnetlink.NLMSG_ERROR) {
                final int errno = ackErrno(at, len);
                if (errno == LibC.ENODEV) {
                    return true;
                }
                throw new TunException(TunException.Reason.OTHER, errno, "cannot query interface \""
                    + new String(nameBytes, java.nio.charset.StandardCharsets.UTF_8) + "\": "
                    + LibC.describe(errno) + kernelSuffix());
            }
            return false;
        });
        return found[0];
    }

    /**
     * Lists the IPv4 addresses of one interface.
     *
     * @param ifIndex the interface index
     * @return pairs {address (int form), prefix length}, in the kernel's order
     * @throws TunException if the dump fails
     */
    List<int[]> ipv4Addresses(final int ifIndex) throws TunException {
        final List<int[]> result = new ArrayList<>();
        for (AddressInfo a : ipv4Addresses()) {
            if (a.index() == ifIndex) {
                result.add(new int[] {a.address(), a.prefixLength()});
            }
        }
        return result;
    }

    /**
     * Lists every IPv4 address of the namespace ({@code ip -4 addr show}).
     *
     * @return the addresses in the kernel's dump order (per interface: primaries in the order added, each followed
     *     by its secondaries)
     * @throws TunException if the dump fails
     */
    List<AddressInfo> ipv4Addresses() throws TunException {
        final List<AddressInfo> result = new ArrayList<>();
        dump(Rtnetlink.dumpAddresses(nextSequence()), "list IPv4 addresses", (type, at, len) -> {
            final AddressInfo a = type == Rtnetlink.RTM_NEWADDR ? AddressInfo.parse(receive, at) : null;
            if (a != null) {
                result.add(a);
            }
        });
        return result;
    }

    /**
     * Lists every link of the namespace ({@code ip link show}).
     *
     * @return the links in the kernel's dump order (by index)
     * @throws TunException if the dump fails
     */
    List<LinkInfo> links() throws TunException {
        final List<LinkInfo> result = new ArrayList<>();
        dump(Rtnetlink.dumpLinks(nextSequence()), "list links", (type, at, len) -> {
            if (type == Rtnetlink.RTM_NEWLINK) {
                result.add(LinkInfo.parse(receive, at));
            }
        });
        return result;
    }

    /**
     * Lists the IPv4 routes of every table ({@code ip -4 route show table all}).
     *
     * @return the routes in the kernel's dump order
     * @throws TunException if the dump fails
     */
    List<RouteInfo> ipv4Routes() throws TunException {
        final List<RouteInfo> result = new ArrayList<>();
        dump(Rtnetlink.dumpRoutes(nextSequence()), "list IPv4 routes", (type, at, len) -> {
            final RouteInfo r = type == Rtnetlink.RTM_NEWROUTE ? RouteInfo.parse(receive, at) : null;
            if (r != null) {
                result.add(r);
            }
        });
        return result;
    }

    /**
     * Asks which route the kernel would use to reach {@code address} ({@code ip route get}).
     *
     * @param address the destination (int form)
     * @return {output interface index, preferred source address or 0}, or {@code null} when no route reaches it
     *     (the kernel answers ENETUNREACH or EHOSTUNREACH)
     * @throws TunException if the query fails for another reason
     */
    int[] routeTo(final int address) throws TunException {
        final int seq = send(Rtnetlink.getRoute(nextSequence(), address));
        final int[][] found = new int[1][];
        receiveAnswer(seq, (type, at, len) -> {
            if (type == Rtnetlink.RTM_NEWROUTE) {
                final int attrs = at + NetlinkMessageWriter.HEADER_SIZE + Rtnetlink.RTMSG_SIZE;
                final int oif = NetlinkAttributes.find(receive, attrs, at + len, Rtnetlink.RTA_OIF);
                final int src = NetlinkAttributes.find(receive, attrs, at + len, Rtnetlink.RTA_PREFSRC);
                found[0] = new int[] {oif < 0 ? 0 : receive.getInt(oif + NetlinkMessageWriter.ATTR_HEADER_SIZE),
                    src < 0 ? 0 : NetlinkAttributes.ipv4(receive, src)};
                return true;
            }
            if (type == Rtnetlink.NLMSG_ERROR) {
                final int errno = ackErrno(at, len);
                if (errno == LibC.ENETUNREACH || errno == LibC.EHOSTUNREACH) {
                    return true;
                }
                throw new TunException(TunException.Reason.OTHER, errno, "cannot look up the route to "
                    + io.overlay.core.net.Ipv4.format(address) + ": " + LibC.describe(errno) + kernelSuffix());
            }
            return false;
        });
        return found[0];
    }

    /**
     * Asks which routing table entry the kernel would use to reach {@code address} ({@code ip route get fibmatch}):
     * one request and one answer, whatever the size of the routing table.
     *
     * @param address the destination (int form)
     * @return the entry (its prefix, table and output interface), or {@code null} when no route reaches it; a kernel
     *     without {@code RTM_F_FIB_MATCH} (before 4.13) answers with the /32 lookup result instead, which a caller
     *     looking for a prefix then does not recognise (it can look through {@link #ipv4Routes()})
     * @throws TunException if the query fails for another reason
     */
    RouteInfo matchingRoute(final int address) throws TunException {
        final int seq = send(Rtnetlink.getMatchingRoute(nextSequence(), address));
        final RouteInfo[] found = new RouteInfo[1];
        receiveAnswer(seq, (type, at, len) -> {
            if (type == Rtnetlink.RTM_NEWROUTE) {
                found[0] = RouteInfo.parse(receive, at);
                return true;
            }
            if (type == Rtnetlink.NLMSG_ERROR) {
                final int errno = ackErrno(at, len);
                if (errno == LibC.ENETUNREACH || errno == LibC.EHOSTUNREACH || errno == LibC.EINVAL) {
                    return true;
                }
                throw new TunException(TunException.Reason.OTHER, errno, "cannot look up the route to "
                    + io.overlay.core.net.Ipv4.format(address) + ": " + LibC.describe(errno) + kernelSuffix());
            }
            return false;
        });
        return found[0];
    }

    /** One message of an answer, read from {@link #receive} at {@code at} ({@code len} bytes, header included). */
    @FunctionalInterface
    private interface AnswerHandler {
        /**
         * Handles one message of the answer.
         *
         * @return {@code true} when the answer is complete
         * @throws TunException to end the answer with an error
         */
        boolean handle(int type, int at, int len) throws TunException;
    }

    /** One message of a dump, other than its end ({@code NLMSG_DONE}) or an error. */
    @FunctionalInterface
    private interface DumpVisitor {
        void visit(int type, int at, int len);
    }

    /**
     * Receives the answer to request {@code seq}, handing each of its messages to {@code handler} until it says the
     * answer is complete; messages of other requests are skipped.
     */
    private void receiveAnswer(final int seq, final AnswerHandler handler) throws TunException {
        while (true) {
            final int n = receive();
            for (int at = 0; at + NetlinkMessageWriter.HEADER_SIZE <= n; ) {
                final int len = receive.getInt(at);
                if (len < NetlinkMessageWriter.HEADER_SIZE || at + len > n) {
                    break;
                }
                if (receive.getInt(at + 8) == seq && handler.handle(receive.getShort(at + 4) & 0xffff, at, len)) {
                    return;
                }
                at += (len + 3) & ~3;
            }
        }
    }

    /** Sends a dump request and visits each message of the answer until {@code NLMSG_DONE}. */
    private void dump(final ByteBuffer request, final String what, final DumpVisitor visitor) throws TunException {
        final int seq = send(request);
        receiveAnswer(seq, (type, at, len) -> {
            if (type == Rtnetlink.NLMSG_DONE) {
                return true;
            }
            if (type == Rtnetlink.NLMSG_ERROR) {
                final int errno = ackErrno(at, len);
                throw new TunException(TunException.Reason.OTHER, errno,
                    "cannot " + what + ": " + LibC.describe(errno) + kernelSuffix());
            }
            visitor.visit(type, at, len);
            return false;
        });
    }

    /**
     * Returns {@code " (kernel: <text>)"} for the last refusal's extended-ack text, or an empty string.
     *
     * @return the suffix for an error message
     */
    String kernelSuffix() {
        return lastKernelMessage == null || lastKernelMessage.isEmpty() ? "" : " (kernel: " + lastKernelMessage + ")";
    }

    private int send(final ByteBuffer request) throws TunException {
        final int seq = request.getInt(8);
        try {
            LibC.send(fd, request, request.limit(), 0);
        } catch (LastErrorException e) {
            throw new TunException(TunException.Reason.OTHER, e.getErrorCode(),
                "cannot send a rtnetlink request: " + LibC.describe(e.getErrorCode()), e);
        }
        return seq;
    }

    private int receive() throws TunException {
        try {
            final long n = LibC.recv(fd, receive, RECEIVE_BUFFER_BYTES, 0);
            return (int) n;
        } catch (LastErrorException e) {
            if (e.getErrorCode() == LibC.EAGAIN) {
                throw new TunException(TunException.Reason.OTHER, e.getErrorCode(),
                    "no rtnetlink answer from the kernel within " + TIMEOUT_SECONDS + " s", e);
            }
            throw new TunException(TunException.Reason.OTHER, e.getErrorCode(),
                "cannot receive a rtnetlink answer: " + LibC.describe(e.getErrorCode()), e);
        }
    }

    /** Reads an NLMSG_ERROR message: {@code int error} (0 or -errno), the request's header, then ext-ack TLVs. */
    private int ackErrno(final int at, final int len) {
        final int payload = at + NetlinkMessageWriter.HEADER_SIZE;
        final int errno = -receive.getInt(payload);
        final int flags = receive.getShort(at + 6) & 0xffff;
        lastKernelMessage = null;
        if (errno != 0 && (flags & Rtnetlink.NLM_F_ACK_TLVS) != 0) {
            final int echoed = (flags & Rtnetlink.NLM_F_CAPPED) != 0
                ? NetlinkMessageWriter.HEADER_SIZE : receive.getInt(payload + 4);
            final int tlvs = payload + 4 + ((echoed + 3) & ~3);
            final int msg = NetlinkAttributes.find(receive, tlvs, at + len, Rtnetlink.NLMSGERR_ATTR_MSG);
            if (msg >= 0) {
                lastKernelMessage = NetlinkAttributes.string(receive, msg);
            }
        }
        return errno;
    }

    /** Closes the socket. Idempotent only in the sense that callers close once (try-with-resources). */
    @Override
    public void close() {
        LibC.closeQuietly(fd);
    }
}
