package io.hypha.k8sworker.watcher;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LogPageTest {

    @Test
    void offsetPlusAHugeLimitDoesNotOverflow() {
        // from + limit passed 2^31 and went negative: subList(1, negative) failed as an internal error
        assertThat(SessionLogs.page(3, 1, Integer.MAX_VALUE)).containsExactly(1, 3);
        assertThat(SessionLogs.page(3, Integer.MAX_VALUE, Integer.MAX_VALUE)).containsExactly(3, 3);
    }

    @Test
    void pagesWithinTheItems() {
        assertThat(SessionLogs.page(5, 1, 2)).containsExactly(1, 3);
        assertThat(SessionLogs.page(5, 0, null)).containsExactly(0, 5);
        assertThat(SessionLogs.page(5, 9, 1)).containsExactly(5, 5);
        assertThat(SessionLogs.page(5, 0, 0)).containsExactly(0, 0);
    }

    @Test
    void aLogCutByItsByteLimitLosesOnlyTheLineTheLimitCutShort() {
        assertThat(SessionLogs.wholeLines("a\nb\n", 4)).isEqualTo("a\nb\n");
        assertThat(SessionLogs.wholeLines("a\nbc", 4)).isEqualTo("a\n");
        assertThat(SessionLogs.wholeLines("abcd", 4)).isEmpty();
        // shorter than the limit: the log ended there, nothing was cut
        assertThat(SessionLogs.wholeLines("a\nb", 4)).isEqualTo("a\nb");
        // a multi-byte character cut in two comes back as U+FFFD
        assertThat(SessionLogs.wholeLines("a\n\uFFFD", 4)).isEqualTo("a\n");
    }
}
