using System.IO.Pipelines;

namespace Stack.Shell;

/// <summary>
/// A connection as a duplex pipe: the input hands out the receive ring's own bytes (no
/// copy, <see cref="RingPipeReader"/>), and completing the output sends FIN once what was
/// written is flushed, as Kestrel's socket transport shuts down a socket. Neither side
/// disposes the connection.
/// </summary>
internal sealed class ConnectionPipe : IDuplexPipe
{
    public ConnectionPipe(TcpStackConnection connection)
    {
        var stream = connection.GetStream(leaveOpen: true);
        Input = new RingPipeReader(connection);
        Output = new ShutdownOnComplete(PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)), connection);
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    /// <summary>A pipe writer that half-closes the connection when completed without an error.</summary>
    private sealed class ShutdownOnComplete(PipeWriter inner, TcpStackConnection connection) : PipeWriter
    {
        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) =>
            inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            Finish(exception);
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            await inner.CompleteAsync(exception).ConfigureAwait(false);
            Finish(exception);
        }

        // Completing flushes what was written; an error means the bytes are incomplete, so
        // the peer must not take the end for a clean one.
        private void Finish(Exception? exception)
        {
            if (exception is null)
            {
                connection.ShutdownWrite();
            }
            else
            {
                connection.Abort();
            }
        }
    }
}
