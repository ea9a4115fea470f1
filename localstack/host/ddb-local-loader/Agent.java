package fig.ddblocal;

import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.nio.charset.StandardCharsets;
import java.security.ProtectionDomain;
import java.util.Arrays;

/**
 * The Java agent LocalStack passes to DynamoDB Local ({@code -javaagent:.../ddb-local-loader-0.1.jar};
 * built by localstack/emulator.sh, which must provide a jar under that name).
 *
 * <p>DynamoDB Local has no option for its listen address: it calls Jetty's {@code new Server(port)},
 * whose ServerConnector binds all interfaces when no host is set. This agent makes that default
 * loopback: in the class file of {@code org.eclipse.jetty.server.ServerConnector} it renames the
 * class reference {@code java/net/InetSocketAddress} (used there only to build the bind address)
 * to {@link LoopbackAddress}, a subclass whose {@code (int port)} constructor means 127.0.0.1.
 * Only the constant pool changes; an explicit host is bound as before. If the class does not look
 * as expected, nothing is changed and a warning is printed (emulator.sh also checks the listening
 * sockets after start).
 */
public final class Agent {
  static final String TARGET = "org/eclipse/jetty/server/ServerConnector";
  static final String FROM = "java/net/InetSocketAddress";
  static final String TO = "fig/ddblocal/LoopbackAddress";

  private Agent() {}

  public static void premain(String args, Instrumentation inst) {
    inst.addTransformer(
        new ClassFileTransformer() {
          @Override
          public byte[] transform(
              ClassLoader loader, String name, Class<?> c, ProtectionDomain pd, byte[] bytes) {
            if (!TARGET.equals(name)) {
              return null;
            }
            try {
              byte[] patched = renameClassRef(bytes, FROM, TO);
              if (patched == null) {
                System.err.println(
                    "fig ddb-local-loader: " + TARGET + " has no plain reference to " + FROM
                        + "; not patched, DynamoDB Local listens on all interfaces");
              }
              return patched;
            } catch (RuntimeException e) {
              System.err.println("fig ddb-local-loader: not patched (" + e + ")");
              return null;
            }
          }
        });
  }

  private static int u2(byte[] b, int at) {
    return ((b[at] & 0xff) << 8) | (b[at + 1] & 0xff);
  }

  /**
   * The class file with the name of the CONSTANT_Class entry {@code from} replaced by {@code to},
   * or null if there is no such entry or its name string is used other than as a class name.
   */
  static byte[] renameClassRef(byte[] b, String from, String to) {
    if (u2(b, 0) != 0xCAFE || u2(b, 2) != 0xBABE) {
      throw new IllegalArgumentException("not a class file");
    }
    int count = u2(b, 8);
    int[] offset = new int[count];
    int[] tag = new int[count];
    int pos = 10;
    for (int i = 1; i < count; i++) {
      offset[i] = pos;
      tag[i] = b[pos] & 0xff;
      switch (tag[i]) {
        case 1: // Utf8
          pos += 3 + u2(b, pos + 1);
          break;
        case 3: case 4: // Integer, Float
        case 9: case 10: case 11: case 12: // Fieldref, Methodref, InterfaceMethodref, NameAndType
        case 17: case 18: // Dynamic, InvokeDynamic
          pos += 5;
          break;
        case 5: case 6: // Long, Double: two slots
          pos += 9;
          i++;
          break;
        case 7: case 8: case 16: case 19: case 20: // Class, String, MethodType, Module, Package
          pos += 3;
          break;
        case 15: // MethodHandle
          pos += 4;
          break;
        default:
          throw new IllegalArgumentException("constant pool tag " + tag[i]);
      }
    }
    byte[] want = from.getBytes(StandardCharsets.UTF_8);
    int name = -1;
    for (int i = 1; i < count; i++) {
      if (tag[i] == 1
          && u2(b, offset[i] + 1) == want.length
          && Arrays.equals(b, offset[i] + 3, offset[i] + 3 + want.length, want, 0, want.length)) {
        name = i;
      }
    }
    if (name < 0) {
      return null;
    }
    boolean asClass = false;
    for (int i = 1; i < count; i++) {
      if ((tag[i] == 7 || tag[i] == 8 || tag[i] == 16) && u2(b, offset[i] + 1) == name) {
        if (tag[i] != 7) {
          return null; // also a string constant or method type: leave the class alone
        }
        asClass = true;
      }
    }
    if (!asClass) {
      return null;
    }
    byte[] repl = to.getBytes(StandardCharsets.UTF_8);
    int start = offset[name];
    int end = start + 3 + want.length;
    byte[] out = new byte[b.length - want.length + repl.length];
    System.arraycopy(b, 0, out, 0, start);
    out[start] = 1;
    out[start + 1] = (byte) (repl.length >> 8);
    out[start + 2] = (byte) repl.length;
    System.arraycopy(repl, 0, out, start + 3, repl.length);
    System.arraycopy(b, end, out, start + 3 + repl.length, b.length - end);
    return out;
  }
}
