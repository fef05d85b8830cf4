package io.switchboard.gateway.support;

import io.switchboard.testing.browser.HeadlessChromium;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One headless Chromium for a test class and the pages its tests open: closed after each test, their console printed
 * when a test fails. Registered on a static field: {@code @RegisterExtension static final Browser browser = new
 * Browser();}.
 */
public final class Browser
        implements BeforeAllCallback, AfterAllCallback, AfterEachCallback, AfterTestExecutionCallback {
    private final List<String> flags;
    private HeadlessChromium chromium;
    private final List<HeadlessChromium.Page> pages = new ArrayList<>();

    public Browser() {
        this(List.of());
    }

    /** With these Chromium command-line flags. */
    public Browser(List<String> flags) {
        this.flags = List.copyOf(flags);
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        chromium = flags.isEmpty() ? HeadlessChromium.launch() : HeadlessChromium.launch(flags);
    }

    /** Opens {@code uri} in a new page, closed after the test. */
    public synchronized HeadlessChromium.Page open(URI uri) {
        HeadlessChromium.Page page = chromium.open(uri);
        pages.add(page);
        return page;
    }

    @Override
    public synchronized void afterTestExecution(ExtensionContext context) {
        if (context.getExecutionException().isPresent()) {
            for (HeadlessChromium.Page p : pages) {
                System.out.println(context.getDisplayName() + ":" + p.consoleText());
            }
        }
    }

    @Override
    public synchronized void afterEach(ExtensionContext context) {
        pages.forEach(HeadlessChromium.Page::close);
        pages.clear();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (chromium != null) {
            chromium.close();
            chromium = null;
        }
    }
}
