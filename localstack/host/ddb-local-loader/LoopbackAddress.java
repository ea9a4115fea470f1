package fig.ddblocal;

import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * What Jetty's ServerConnector builds its bind address with once {@link Agent} has patched it:
 * a port alone means the loopback address instead of all interfaces.
 */
public final class LoopbackAddress extends InetSocketAddress {
  private static final long serialVersionUID = 1L;

  public LoopbackAddress(int port) {
    super(InetAddress.getLoopbackAddress(), port);
  }

  public LoopbackAddress(String host, int port) {
    super(host, port);
  }
}
