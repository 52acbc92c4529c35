package io.hypha.k8sworker.launcher;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import io.fabric8.kubernetes.api.model.Quantity;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;

/**
 * The operator's limits on what a manifest may ask for ({@code policy} in the config), applied by
 * {@code compile} and so by {@code start} before anything is created. A refusal is
 * {@link ErrorCode#FORBIDDEN} and names the manifest field and the policy setting.
 */
final class JobPolicy {

    private static final List<String> SIZED = List.of("cpu", "memory");

    private final WorkerConfig.Policy policy;
    private final List<Pattern> imagePatterns;

    JobPolicy(WorkerConfig.Policy policy) {
        this.policy = policy;
        this.imagePatterns = policy.allowedImages().stream().map(JobPolicy::globToRegex).toList();
    }

    void checkImage(String field, String image) {
        String repository = repository(image);
        if (imagePatterns.stream().noneMatch(p -> p.matcher(repository).matches())) {
            throw forbidden("manifest." + field + ": " + repository + " is not an allowed image (policy.allowedImages: "
                    + policy.allowedImages() + ")");
        }
    }

    void checkNodeSelector(Map<String, String> nodeSelector) {
        if (!nodeSelector.isEmpty() && !policy.allowNodeSelector()) {
            throw forbidden("manifest.node_selector: callers may not choose nodes here (policy.allowNodeSelector is false)");
        }
    }

    void checkTolerations(List<?> tolerations) {
        if (!tolerations.isEmpty() && !policy.allowTolerations()) {
            throw forbidden("manifest.tolerations: callers may not set tolerations here (policy.allowTolerations is false)");
        }
    }

    void checkServiceAccount(String field, String name) {
        if (name != null && !policy.allowedServiceAccounts().contains(name)) {
            throw forbidden("manifest." + field + ": '" + name + "' is not an allowed service account (policy.allowedServiceAccounts: "
                    + policy.allowedServiceAccounts() + ")");
        }
    }

    void checkVolumeClaim(String field, String name) {
        if (!policy.allowedVolumeClaims().contains(name)) {
            throw forbidden("manifest." + field + ": '" + name + "' is not an allowed PersistentVolumeClaim (policy.allowedVolumeClaims: "
                    + policy.allowedVolumeClaims() + ")");
        }
    }

    /** A Secret a manifest names: one of the policy's, or the job type's own default. */
    void checkSecret(String field, String name, String typeDefault) {
        if (name != null && !name.equals(typeDefault) && !policy.allowedSecretNames().contains(name)) {
            throw forbidden("manifest." + field + ": '" + name + "' is not an allowed secret (policy.allowedSecretNames: "
                    + policy.allowedSecretNames() + ")");
        }
    }

    /**
     * The requests and limits a job gets: what the manifest asks for, the job type's defaults (else
     * the policy's) for cpu and memory it leaves out, and at most the policy's maximum.
     */
    Map<String, Map<String, String>> resources(Map<String, Map<String, String>> asked, Map<String, String> typeRequests,
                                               Map<String, String> typeLimits) {
        Map<String, String> requests = new LinkedHashMap<>(asked.getOrDefault("requests", Map.of()));
        Map<String, String> limits = new LinkedHashMap<>(asked.getOrDefault("limits", Map.of()));
        checkAsked("requests", requests);
        checkAsked("limits", limits);
        for (String name : SIZED) {
            String defRequest = typeRequests.getOrDefault(name, policy.defaultRequests().get(name));
            String defLimit = typeLimits.getOrDefault(name, policy.defaultLimits().get(name));
            String request = requests.get(name);
            String limit = limits.get(name);
            if (request == null && limit == null) {
                putIfNotNull(requests, name, defRequest);
                putIfNotNull(limits, name, defLimit);
            } else if (limit == null) {
                // a limit below the request would be refused by Kubernetes
                putIfNotNull(limits, name, defLimit == null ? null : larger(defLimit, request));
            } else if (request == null) {
                putIfNotNull(requests, name, defRequest == null ? null : smaller(defRequest, limit));
            }
        }
        checkMaximum(requests, limits, "cpu", policy.maxCpu(), "policy.resources.maxCpu");
        checkMaximum(requests, limits, "memory", policy.maxMemory(), "policy.resources.maxMemory");
        for (String name : SIZED) {
            if (requests.containsKey(name) && limits.containsKey(name)
                    && amount(requests.get(name)).compareTo(amount(limits.get(name))) > 0) {
                throw WorkerException.invalid("manifest.resources.requests." + name + " (" + requests.get(name)
                        + ") is more than manifest.resources.limits." + name + " (" + limits.get(name) + ")");
            }
        }
        checkGpus(requests, limits);
        Map<String, Map<String, String>> out = new LinkedHashMap<>();
        if (!requests.isEmpty()) {
            out.put("requests", requests);
        }
        if (!limits.isEmpty()) {
            out.put("limits", limits);
        }
        return out;
    }

    /**
     * Only cpu, memory and GPUs, which the policy bounds: any other resource (shared or partitioned
     * GPUs, TPUs, hugepages, ...) would escape its limits. Nothing negative, and no zero limit, which
     * Kubernetes would not read as "none at all".
     */
    private static void checkAsked(String kind, Map<String, String> quantities) {
        quantities.forEach((name, value) -> {
            String field = "manifest.resources." + kind + "." + name;
            if (!SIZED.contains(name) && !isGpu(name)) {
                throw forbidden(field + ": jobs here may ask for cpu, memory and <vendor>/gpu only");
            }
            int sign;
            try {
                sign = amount(value).signum();
            } catch (WorkerException e) {
                throw WorkerException.invalid(field + ": not a Kubernetes quantity: " + WorkerException.shown(value));
            }
            // a GPU limit of 0 asks for none, which is harmless
            if (sign < 0 || sign == 0 && kind.equals("limits") && !isGpu(name)) {
                throw WorkerException.invalid(field + (kind.equals("limits") ? " must be more than 0" : " must not be negative") + ", got " + value);
            }
        });
    }

    private static boolean isGpu(String name) {
        return name.endsWith("/gpu");
    }

    private static void checkMaximum(Map<String, String> requests, Map<String, String> limits, String name, String max,
                                     String setting) {
        BigDecimal most = amount(max);
        for (Map.Entry<String, Map<String, String>> kind : List.of(Map.entry("requests", requests), Map.entry("limits", limits))) {
            String value = kind.getValue().get(name);
            if (value != null && amount(value).compareTo(most) > 0) {
                throw forbidden("manifest.resources." + kind.getKey() + "." + name + ": " + value
                        + " is more than a job may have (" + setting + ": " + max + ")");
            }
        }
    }

    /** GPUs are extended resources ({@code nvidia.com/gpu}, {@code amd.com/gpu}, ...): whole numbers, at most the policy's. */
    private void checkGpus(Map<String, String> requests, Map<String, String> limits) {
        BigDecimal total = BigDecimal.ZERO;
        List<String> fields = new ArrayList<>();
        for (String name : union(requests.keySet(), limits.keySet())) {
            if (!isGpu(name)) {
                continue;
            }
            BigDecimal most = BigDecimal.ZERO;
            for (Map.Entry<String, Map<String, String>> kind : List.of(Map.entry("requests", requests), Map.entry("limits", limits))) {
                String value = kind.getValue().get(name);
                if (value == null) {
                    continue;
                }
                BigDecimal n = amount(value);
                // checkAsked already refused negative amounts
                if (n.stripTrailingZeros().scale() > 0) {
                    throw WorkerException.invalid("manifest.resources." + kind.getKey() + "." + name + " must be a whole number of GPUs, got "
                            + value);
                }
                most = most.max(n);
                fields.add("manifest.resources." + kind.getKey() + "." + name);
            }
            total = total.add(most);
        }
        if (total.compareTo(BigDecimal.valueOf(policy.maxGpus())) > 0) {
            throw forbidden(fields.get(0) + ": " + total.toPlainString() + " GPU(s) is more than a job may have (policy.resources.maxGpus: "
                    + policy.maxGpus() + ")");
        }
    }

    private static List<String> union(Set<String> a, Set<String> b) {
        List<String> out = new ArrayList<>(a);
        b.stream().filter(x -> !a.contains(x)).forEach(out::add);
        return out;
    }

    private static void putIfNotNull(Map<String, String> map, String key, String value) {
        if (value != null) {
            map.put(key, value);
        }
    }

    private static String larger(String a, String b) {
        return amount(a).compareTo(amount(b)) >= 0 ? a : b;
    }

    private static String smaller(String a, String b) {
        return amount(a).compareTo(amount(b)) <= 0 ? a : b;
    }

    /** The value of a quantity that ManifestReader already found well-formed. */
    static BigDecimal amount(String quantity) {
        try {
            return new Quantity(quantity).getNumericalAmount();
        } catch (RuntimeException e) {
            throw WorkerException.invalid("not a Kubernetes quantity: " + quantity);
        }
    }

    /**
     * {@code <registry>/<repository>} of an image reference, with Docker's defaults: {@code busybox:1.36}
     * is {@code docker.io/library/busybox}. Tags and digests do not count.
     */
    static String repository(String image) {
        String ref = image;
        int at = ref.indexOf('@');
        if (at >= 0) {
            ref = ref.substring(0, at);
        }
        int colon = ref.lastIndexOf(':');
        if (colon > ref.lastIndexOf('/')) {
            ref = ref.substring(0, colon);
        }
        int slash = ref.indexOf('/');
        String first = slash < 0 ? "" : ref.substring(0, slash);
        // Docker's rule: a first component is a registry if it has '.' or ':', is localhost, or has an upper-case letter
        boolean hasRegistry = slash >= 0 && (first.contains(".") || first.contains(":") || first.equals("localhost")
                || !first.equals(first.toLowerCase(Locale.ROOT)));
        if (!hasRegistry) {
            return "docker.io/" + (slash < 0 ? "library/" : "") + ref;
        }
        if (first.equals("docker.io") || first.equals("index.docker.io")) {
            String path = ref.substring(slash + 1);
            return "docker.io/" + (path.contains("/") ? "" : "library/") + path;
        }
        return ref;
    }

    /** {@code *} within one path segment, {@code **} across segments, {@code ?} one character. */
    static Pattern globToRegex(String glob) {
        StringBuilder re = new StringBuilder();
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            if (c == '*' && i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
                re.append(".*");
                i++;
            } else if (c == '*') {
                re.append("[^/]*");
            } else if (c == '?') {
                re.append("[^/]");
            } else {
                re.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return Pattern.compile(re.toString());
    }

    private static WorkerException forbidden(String message) {
        return new WorkerException(ErrorCode.FORBIDDEN, message);
    }
}
