module Stack.Tests.HostTests

open Expecto

[<Tests>]
let tests = testList "Host" []
