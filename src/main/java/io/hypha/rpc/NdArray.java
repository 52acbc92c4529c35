package io.hypha.rpc;

import java.util.List;

/**
 * An n-dimensional array as numpy sends it ({@code _rtype: ndarray}): the raw C-order buffer in the
 * sender's byte order (little-endian on all common platforms), its shape and its numpy dtype name.
 * Sent back unchanged, it arrives in Python as the same numpy array.
 */
public record NdArray(byte[] data, List<Long> shape, String dtype) {
}
