/// Helpers for scenario tests of one connection: segments in, segments out.
module Stack.Tests.Scenario
