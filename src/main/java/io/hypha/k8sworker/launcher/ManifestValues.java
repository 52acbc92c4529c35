package io.hypha.k8sworker.launcher;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.hypha.k8sworker.bus.JsonValues;

/**
 * The shapes Kubernetes and Docker accept for manifest values (names, labels, quantities, image
 * references) and the size bounds of a manifest; {@link ManifestReader} applies them field by field.
 */
final class ManifestValues {

    static final Pattern QUANTITY = Pattern.compile("^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$");
    static final Pattern ENV_NAME = Pattern.compile("[-._a-zA-Z][-._a-zA-Z0-9]*");
    static final Pattern SECRET_KEY = Pattern.compile("[-._a-zA-Z0-9]+");
    /**
     * Docker's reference grammar (github.com/distribution/reference): [domain[:port]/]path[:tag][@digest],
     * path components lower-case alphanumerics joined by '.', '_', '__' or dashes. The container runtime
     * refuses anything else (InvalidImageName) only once the pod exists; compile refuses it first.
     */
    private static final String PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    private static final String DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    private static final String DOMAIN = "(?:" + DOMAIN_COMPONENT + "(?:\\." + DOMAIN_COMPONENT + ")*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?";
    private static final Pattern IMAGE = Pattern.compile("(?<name>(?:" + DOMAIN + "/)?" + PATH_COMPONENT + "(?:/" + PATH_COMPONENT + ")*)"
            + "(?::[\\w][\\w.-]{0,127})?(?:@(?<algorithm>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):(?<hex>[0-9a-fA-F]{32,}))?");
    /** The digests Docker can verify, with their hex lengths (lower-case hex only). */
    private static final Map<String, Integer> DIGESTS = Map.of("sha256", 64, "sha384", 96, "sha512", 128);
    static final Pattern LABEL_KEY = Pattern.compile("([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?");
    static final Pattern LABEL_VALUE = Pattern.compile("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");
    static final Pattern SERVICE_ID = Pattern.compile("[A-Za-z0-9_-]{1,63}");
    static final Pattern DNS_NAME = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
    static final int MAX_STRING = 8 * 1024;
    static final int MAX_ENV_VALUE = 32 * 1024;
    static final int MAX_ITEMS = 100;

    private ManifestValues() {
    }

    /** Why Docker's reference parser would refuse the reference, or null if it accepts it. */
    static String imageProblem(String image) {
        if (image.length() > 512) {
            return "longer than 512 characters";
        }
        Matcher m = IMAGE.matcher(image);
        if (!m.matches()) {
            return "Docker references are [registry[:port]/]name[:tag][@digest] with lower-case names";
        }
        if (m.group("name").length() > 255) {
            return "the repository name is longer than 255 characters";
        }
        if (image.matches("[a-f0-9]{64}")) {
            return "a 64-character hexadecimal string is an image id, not a reference";
        }
        if (m.group("algorithm") != null) {
            Integer length = DIGESTS.get(m.group("algorithm"));
            if (length == null) {
                return "unsupported digest algorithm " + m.group("algorithm");
            }
            if (m.group("hex").length() != length || !m.group("hex").matches("[0-9a-f]+")) {
                return "a " + m.group("algorithm") + " digest is " + length + " lower-case hexadecimal characters";
            }
        }
        return null;
    }

    static String numberText(Number n) {
        double d = n.doubleValue();
        return d == Math.rint(d) && !Double.isInfinite(d) ? String.valueOf(n.longValue()) : String.valueOf(d);
    }

    static String typeName(Object v) {
        return JsonValues.kindOf(v, "null");
    }
}
