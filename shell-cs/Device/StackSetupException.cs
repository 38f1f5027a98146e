namespace Stack.Shell.Device;

/// <summary>
/// The stack could not set up its device or namespace. The message says what is missing
/// and what to do about it.
/// </summary>
public sealed class StackSetupException : Exception
{
    /// <summary>Creates the exception with a message that says what to do.</summary>
    public StackSetupException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
