module Stack.Tests.ConnectionTests

open Expecto

[<Tests>]
let tests = testList "Connection" []
