// Longer than ~400 lines: about 315 lines of code; the rest is the Javadoc of the all-or-nothing move's steps (open,
// register, switch, undo, keep), which belongs beside the code of each step.
package io.overlay.udp;

import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.net.Ipv4;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's UDP sockets: per loop, one receiving socket (in one {@code SO_REUSEPORT} group when there are several
 * loops) and one to send from, and the receiving socket's registration on its loop. Opened by
 * {@link UdpPacketEngine#start()}, moved to another address all or nothing by {@link UdpPacketEngine#rebind} (the
 * contract is documented there), closed with the engine. Used only under the engine's lifecycle lock; the per-loop
 * steps of a move run as tasks on each loop's own thread, between its batches.
 */
final class EngineSockets {
    private static final Logger LOG = LoggerFactory.getLogger(UdpPacketEngine.class);

    private final int port;
    private final List<FileDescriptor> sockets = new ArrayList<>();
    /** Loop i's socket to send from (index 0 and any that could not be opened: the loop's receiving socket). */
    private final List<FileDescriptor> sendSockets = new ArrayList<>();
    private ForwardingLoop[] loops = new ForwardingLoop[0];
    private IoEventLoop[] executors = new IoEventLoop[0];
    /** Loop i's UDP socket registration, to move it to another socket ({@link #moveTo}). */
    private IoRegistration[] udpRegistrations = new IoRegistration[0];
    /**
     * The address loop i's sockets are bound to: the start's until {@link #moveTo} moves them; after a failed move
     * whose undo could not put a loop back, that loop's differs.
     */
    private int[] boundTo = new int[0];
    /**
     * For tests in this package: called on loop i's thread at each per-loop {@link RebindStep} of {@link #moveTo} with
     * the step and i; a throw fails that step.
     */
    volatile BiConsumer<RebindStep, Integer> rebindFault;
    /** How long {@link #moveTo} waits for loop 0 to open the new sockets, in ms (tests shorten it). */
    volatile long rebindOpenTimeoutMillis = 10_000;

    /** The per-loop points of {@link #moveTo} where the test hook {@link #rebindFault} is called, in order. */
    enum RebindStep {
        /** Loop i is about to prepare its new socket (GRO, edge-triggered registration). */
        REGISTER,
        /** Loop i asks for {@code UDP_GRO} on its new socket: a throw here stands for the kernel's refusal. */
        ENABLE_GRO,
        /** Loop i is about to take its new sockets. */
        SWITCH,
        /** Loop i took its new sockets; its old registration is still polled level-triggered. */
        SWITCHED,
        /** Undoing a failed rebind: loop i is about to go back to its old sockets. */
        UNDO
    }

    /** @param port the UDP port every loop receives on */
    EngineSockets(final int port) {
        this.port = port;
    }

    /**
     * Opens {@code n} loops' sockets bound to {@code address}; on failure closes what it opened.
     *
     * @throws IOException if a receiving socket cannot be created or bound (the message names address, port, error)
     */
    void open(final int address, final int n) throws IOException {
        openSockets(address, n, sockets, sendSockets);
        boundTo = new int[n];
        java.util.Arrays.fill(boundTo, address);
    }

    /** Loop i's receiving socket. */
    FileDescriptor receive(final int i) {
        return sockets.get(i);
    }

    /** Loop i's socket to send from. */
    FileDescriptor send(final int i) {
        return sendSockets.get(i);
    }

    /** Records the loops, their event loops and each receiving socket's registration, once they are registered. */
    void attach(final ForwardingLoop[] loops, final IoEventLoop[] executors, final IoRegistration[] registrations) {
        this.loops = loops;
        this.executors = executors;
        this.udpRegistrations = registrations;
    }

    /**
     * Moves every loop to sockets bound to {@code address}, all or nothing, as {@link UdpPacketEngine#rebind} says;
     * nothing to do when every loop is bound there already.
     *
     * @throws IOException when opening fails or a step fails (the message names the step and loop)
     */
    void moveTo(final int address) throws IOException {
        if (allBoundTo(address)) {
            return;
        }
        final int n = loops.length;
        final List<FileDescriptor>[] opened = openOnLoop0(address, n);
        final List<FileDescriptor> receive = opened[0];
        final List<FileDescriptor> send = opened[1];
        final IoRegistration[] fresh = new IoRegistration[n];
        // set by loop i's own task once it took its new sockets, whatever fails after that in the task
        final boolean[] moved = new boolean[n];
        // whether loop i's new socket has UDP_GRO (written by its register task), and its old one had
        final boolean[] groNew = new boolean[n];
        final boolean[] groOld = new boolean[n];
        for (int i = 0; i < n; i++) {
            groOld[i] = loops[i].groActive();
        }
        RebindStep step = RebindStep.REGISTER;
        int at = 0;
        try {
            for (; at < n; at++) {
                final int i = at;
                final ForwardingLoop loop = loops[i];
                final FileDescriptor udp = receive.get(i);
                fresh[i] = executors[i].register(new FdHandle.Udp(udp, loop)).syncUninterruptibly().getNow();
                final IoRegistration r = fresh[i];
                executors[i].submit(() -> {
                    fault(RebindStep.REGISTER, i);
                    if (loop.groBuffers()) {
                        groNew[i] = enableGro(udp.intValue(), i);
                        if (!groNew[i]) {
                            LOG.warn("the kernel refused UDP GRO on loop {}'s new socket; it receives datagram by "
                                + "datagram there", i);
                        }
                    }
                    r.submit(EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLET));
                }).syncUninterruptibly();
            }
            step = RebindStep.SWITCH;
            for (at = 0; at < n; at++) {
                final int i = at;
                final ForwardingLoop loop = loops[i];
                final IoRegistration old = udpRegistrations[i];
                final IoRegistration r = fresh[i];
                final int udpFd = receive.get(i).intValue();
                final int sendFd = send.get(i).intValue();
                final boolean gro = groNew[i];
                executors[i].submit(() -> {
                    fault(RebindStep.SWITCH, i);
                    r.submit(EpollIoOps.EPOLLIN); // epoll_ctl MOD: reports what arrived meanwhile
                    loop.drainUdp(); // what queued on the old socket: after the switch nothing reads it
                    loop.onRebind(udpFd, sendFd, gro);
                    moved[i] = true;
                    fault(RebindStep.SWITCHED, i);
                    old.submit(EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLET)); // MOD: never a busy loop on it
                }).syncUninterruptibly();
            }
        } catch (RuntimeException e) {
            undo(address, moved, groOld, fresh, receive, send);
            throw new IOException("moving the UDP sockets to " + Ipv4.format(address) + ":" + port
                + " failed at the " + step.name().toLowerCase(java.util.Locale.ROOT) + " step of loop " + at
                + " (now on " + where() + "): " + e.getMessage(), e);
        }
        for (int i = 0; i < n; i++) {
            final IoRegistration old = udpRegistrations[i];
            executors[i].submit(() -> {
                old.cancel(); // on the loop's thread: done at once, before the socket is closed
            }).syncUninterruptibly();
        }
        final List<FileDescriptor> oldReceive = new ArrayList<>(sockets);
        final List<FileDescriptor> oldSend = new ArrayList<>(sendSockets);
        sockets.clear();
        sockets.addAll(receive);
        sendSockets.clear();
        sendSockets.addAll(send);
        udpRegistrations = fresh;
        closeSockets(oldReceive, oldSend);
        LOG.info("UDP engine moved from {} to {}:{} ({} loop(s))", where(), Ipv4.format(address),
            port, n);
        java.util.Arrays.fill(boundTo, address);
    }

    /**
     * Opens loop i's receiving socket into {@code receive} and its sending socket into {@code send}, all bound to
     * {@code address}; on failure closes what it opened.
     */
    private void openSockets(final int address, final int n, final List<FileDescriptor> receive,
                             final List<FileDescriptor> send) throws IOException {
        try {
            for (int i = 0; i < n; i++) {
                receive.add(new FileDescriptor(LinuxUdp.openBound(address, port, n > 1,
                    UdpPacketEngine.SOCKET_BUFFER_BYTES)));
            }
            openSendSockets(address, n, receive, send);
        } catch (IOException e) {
            closeSockets(receive, send);
            throw e;
        }
    }

    /**
     * With several loops and {@value UdpPacketEngine#SPREAD_PORTS_PROP_NAME} not {@code false}: loop {@code i > 0}
     * sends from its own socket bound to port + i, and the receiving group picks its socket by source port
     * ({@link LinuxUdp#steerBySourcePort}). flannel's fixed port makes all datagrams between two hosts one UDP flow,
     * which {@code SO_REUSEPORT} hands to one socket, so one loop would receive everything; the TUN's multi-queue
     * selection already keeps each inner flow on one queue, hence one loop and one source port, so a TCP flow stays
     * in order. flanneld reads datagrams from any source port (flannel v0.20.2 {@code backend/udp/proxy_amd64.c},
     * {@code udp_to_tun} checks none) and overlay's known-peer check looks at the address only. With one loop the wire
     * is flannel's: everything from the listen port. A port that cannot be bound leaves that loop on the listen port.
     */
    private void openSendSockets(final int address, final int n, final List<FileDescriptor> receive,
                                 final List<FileDescriptor> send) {
        final boolean spread = n > 1
            && !"false".equalsIgnoreCase(System.getProperty(UdpPacketEngine.SPREAD_PORTS_PROP_NAME));
        send.add(receive.get(0));
        for (int i = 1; i < n; i++) {
            FileDescriptor fd = receive.get(i);
            if (spread && port + i <= 65535) {
                try {
                    fd = new FileDescriptor(LinuxUdp.openBound(address, port + i, false,
                        UdpPacketEngine.SOCKET_BUFFER_BYTES));
                } catch (IOException e) {
                    LOG.warn("loop {} sends from port {}: {}", i, port, e.getMessage());
                }
            }
            send.add(fd);
        }
        if (spread && !LinuxUdp.steerBySourcePort(receive.get(0).intValue(), port, n)) {
            LOG.warn("the kernel refused the SO_REUSEPORT steering program; datagrams are spread by hash");
        }
    }

    /**
     * Opens the new sockets on loop 0's thread: {@code [receive, send]}. When it does not finish in
     * {@link #rebindOpenTimeoutMillis}, what it opens later is closed when it finishes (the lists are the task's alone
     * until then).
     */
    @SuppressWarnings("unchecked")
    private List<FileDescriptor>[] openOnLoop0(final int address, final int n) throws IOException {
        final io.netty.util.concurrent.Future<List<FileDescriptor>[]> open = executors[0].submit(() -> {
            final List<FileDescriptor> receive = new ArrayList<>(n);
            final List<FileDescriptor> send = new ArrayList<>(n);
            openSockets(address, n, receive, send);
            return new List[] {receive, send};
        });
        try {
            return open.get(rebindOpenTimeoutMillis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        } catch (InterruptedException | TimeoutException e) {
            open.addListener(done -> {
                if (done.isSuccess()) {
                    final List<FileDescriptor>[] late = (List<FileDescriptor>[]) done.getNow();
                    closeSockets(late[0], late[1]);
                    LOG.warn("closed the UDP sockets on {} opened after the move was given up", Ipv4.format(address));
                }
            });
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("opening the UDP sockets on " + Ipv4.format(address) + " did not finish within "
                + rebindOpenTimeoutMillis + " ms (loop 0 busy)", e);
        }
    }

    /**
     * Undoes a rebind to {@code address} that failed: the loops that took their new sockets ({@code moved}, also when
     * their switch task failed after that) back on their old sockets (polled level-triggered again), the new
     * registrations cancelled and the new sockets closed. A loop that cannot be switched back is logged at ERROR and
     * stays on its new sockets (polled, so it goes on forwarding): the engine then owns those (closed with it) and
     * records that loop on {@code address}, and its old sockets, which nothing reads any more (one left in the
     * {@code SO_REUSEPORT} group would take its share of the datagrams), are closed.
     */
    private void undo(final int address, final boolean[] moved, final boolean[] groOld, final IoRegistration[] fresh,
                      final List<FileDescriptor> receive, final List<FileDescriptor> send) {
        final boolean[] keep = new boolean[fresh.length];
        for (int i = 0; i < moved.length; i++) {
            if (!moved[i]) {
                continue;
            }
            final ForwardingLoop loop = loops[i];
            final IoRegistration old = udpRegistrations[i];
            final IoRegistration r = fresh[i];
            final int udpFd = sockets.get(i).intValue();
            final int sendFd = sendSockets.get(i).intValue();
            final boolean gro = groOld[i];
            final boolean[] back = new boolean[1]; // set by the task once the loop is on its old sockets again
            try {
                final int at = i;
                executors[i].submit(() -> {
                    fault(RebindStep.UNDO, at);
                    old.submit(EpollIoOps.EPOLLIN);
                    loop.onRebind(udpFd, sendFd, gro);
                    back[0] = true;
                    r.submit(EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLET));
                }).syncUninterruptibly();
            } catch (RuntimeException e) {
                keep[i] = !back[0];
                if (keep[i]) {
                    LOG.error("loop {} cannot go back to its old UDP socket after a failed move; it stays on fd {} "
                        + "({}:{})", i, receive.get(i).intValue(), Ipv4.format(address), port, e);
                }
            }
        }
        final List<FileDescriptor> closeReceive = new ArrayList<>();
        final List<FileDescriptor> closeSend = new ArrayList<>();
        for (int i = 0; i < fresh.length; i++) {
            if (keep[i]) {
                keepNew(i, address, fresh[i], receive.get(i), send.get(i));
                continue;
            }
            final IoRegistration r = fresh[i];
            if (r != null) {
                try {
                    executors[i].submit(() -> {
                        r.cancel();
                    }).syncUninterruptibly();
                } catch (RuntimeException e) {
                    LOG.warn("cancelling loop {}'s new UDP registration failed: {}", i, e.toString());
                }
            }
            closeReceive.add(receive.get(i));
            closeSend.add(send.get(i));
        }
        closeSockets(closeReceive, closeSend);
    }

    /**
     * Makes loop i's new sockets, which it stays on after a failed undo, the engine's: its old registration is
     * cancelled and its old sockets closed.
     */
    private void keepNew(final int i, final int address, final IoRegistration fresh, final FileDescriptor receive,
                         final FileDescriptor send) {
        final IoRegistration old = udpRegistrations[i];
        try {
            executors[i].submit(() -> {
                old.cancel();
            }).syncUninterruptibly();
        } catch (RuntimeException e) {
            LOG.warn("cancelling loop {}'s old UDP registration failed: {}", i, e.toString());
        }
        final FileDescriptor oldReceive = sockets.set(i, receive);
        final FileDescriptor oldSend = sendSockets.set(i, send);
        udpRegistrations[i] = fresh;
        boundTo[i] = address;
        closeSockets(new ArrayList<>(List.of(oldReceive)), new ArrayList<>(List.of(oldSend)));
    }

    /** Whether every loop's sockets are bound to {@code address}. */
    private boolean allBoundTo(final int address) {
        for (int a : boundTo) {
            if (a != address) {
                return false;
            }
        }
        return true;
    }

    /** The address the loops are bound to, or each loop's when they differ (after a failed undo). */
    private String where() {
        if (allBoundTo(boundTo[0])) {
            return Ipv4.format(boundTo[0]) + ":" + port;
        }
        final StringBuilder b = new StringBuilder();
        for (int i = 0; i < boundTo.length; i++) {
            b.append(i == 0 ? "" : ", ").append("loop ").append(i).append(' ').append(Ipv4.format(boundTo[i]));
        }
        return b.toString();
    }

    /** Asks for {@code UDP_GRO} on loop i's new socket; the test hook may refuse it. */
    private boolean enableGro(final int fd, final int loop) {
        try {
            fault(RebindStep.ENABLE_GRO, loop);
        } catch (RuntimeException e) {
            return false;
        }
        return LinuxUdp.enableGro(fd);
    }

    private void fault(final RebindStep step, final int loop) {
        final BiConsumer<RebindStep, Integer> f = rebindFault;
        if (f != null) {
            f.accept(step, loop);
        }
    }

    /** Closes every socket. */
    void close() {
        closeSockets(sockets, sendSockets);
    }

    /** Closes and forgets the sockets of both lists (a send socket that is also a receiving one once). */
    private static void closeSockets(final List<FileDescriptor> sockets, final List<FileDescriptor> sendSockets) {
        for (FileDescriptor fd : sendSockets) {
            if (!sockets.contains(fd)) {
                try {
                    fd.close();
                } catch (IOException e) {
                    LOG.warn("closing UDP socket fd {} failed: {}", fd.intValue(), e.toString());
                }
            }
        }
        sendSockets.clear();
        for (FileDescriptor fd : sockets) {
            try {
                fd.close();
            } catch (IOException e) {
                LOG.warn("closing UDP socket fd {} failed: {}", fd.intValue(), e.toString());
            }
        }
        sockets.clear();
    }
}
