package io.hypha.k8sworker.config;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A setting whose value is a credential: {@link WorkerConfig#redacted()} shows only whether it is
 * set. Marking the setting here is the one step a new secret setting needs.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.RECORD_COMPONENT)
public @interface SecretSetting {
}
