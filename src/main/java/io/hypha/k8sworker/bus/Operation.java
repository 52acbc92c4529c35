package io.hypha.k8sworker.bus;

/** An operation of an event-bus address: its name travels in the {@link Addresses.Headers#OPERATION} header. */
public interface Operation {

    /** The header value. */
    String wireName();
}
