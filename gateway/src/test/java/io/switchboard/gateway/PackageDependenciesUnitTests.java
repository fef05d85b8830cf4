package io.switchboard.gateway;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The gateway's packages form a DAG (docs/contributing.md, dependencies point one way): no package depends on one that depends back on it, so
 * each can be read, changed and tested from the packages below it.
 */
class PackageDependenciesUnitTests {
    private static final JavaClasses GATEWAY = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.switchboard.gateway");

    @Test
    void packagesAreFreeOfCycles() {
        slices().matching("io.switchboard.gateway.(*)..")
                .should()
                .beFreeOfCycles()
                .check(GATEWAY);
    }

    @Test
    void onlyTheEntryPointKnowsTheRootPackage() {
        // the root package (Gateway, Switchboard) wires everything together: nothing below may depend on it
        noClasses()
                .that()
                .resideInAPackage("io.switchboard.gateway.(*)..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("io.switchboard.gateway")
                .check(GATEWAY);
    }

    @Test
    void sessionLogicKnowsNoChannel() {
        // the session reaches the network only through its Outbound port, which transport implements
        noClasses()
                .that()
                .resideInAPackage("io.switchboard.gateway.session..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("io.netty.channel..", "io.netty.handler..", "reactor.netty..")
                .check(GATEWAY);
    }
}
