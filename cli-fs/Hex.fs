/// Hex text to bytes and back, forgiving about the separators people paste.
module Stack.Cli.Hex

open System

/// Reads hex digits, ignoring whitespace, ':' '-' separators and "0x" prefixes.
let tryParse (text: string) : Result<byte array, string> =
    let cleaned =
        text.Replace("0x", "").Replace("0X", "")
        |> String.filter (fun c -> not (Char.IsWhiteSpace c || c = ':' || c = '-'))

    if cleaned.Length = 0 then
        Error "no hex digits"
    elif cleaned.Length % 2 <> 0 then
        Error $"odd number of hex digits ({cleaned.Length})"
    else
        match cleaned |> Seq.tryFindIndex (Uri.IsHexDigit >> not) with
        | Some i -> Error $"'{cleaned[i]}' is not a hex digit"
        | None -> Ok(Convert.FromHexString cleaned)

let ofBytes (bytes: ReadOnlySpan<byte>) =
    Convert.ToHexString(bytes).ToLowerInvariant()
