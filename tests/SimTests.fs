module Stack.Tests.SimTests

open Expecto

[<Tests>]
let tests = testList "Simulator" []
