using System.Buffers;
using System.Runtime.InteropServices;

namespace Stack.Shell;

/// <summary>
/// Memory for the connections' rings, outside the managed heap: blocks of a power of two
/// bytes, from 4 KiB, cut from mappings of at least 1 MiB. A returned block waits for
/// reuse; once it has waited a second unused, a timer gives its pages back to the system
/// (they read as zeros when used again), so the resident set follows the data the stacks
/// hold, and an idle process holds none. When the last block is back and trimmed, the
/// timer trims the C heap too (glibc's malloc_trim). Mappings are never removed: a block may be read by a thread
/// that lost a race, and an address that stays mapped never faults.
/// </summary>
public sealed unsafe partial class BufferPool
{
    private const int SmallestShift = 12;
    private const int LargestShift = 30;
    private const int MappingSize = 1 << 20;
    private const long IdleMilliseconds = 1000;

    private readonly Stack<Block>[] _free = new Stack<Block>[LargestShift - SmallestShift + 1];
    private long _rented;
    private long _resident;
    private long _mapped;
    private int _trimArmed;
    private readonly Timer _trimTimer;

    private BufferPool()
    {
        _trimTimer = new Timer(_ => TrimAndRearm(), null, Timeout.Infinite, Timeout.Infinite);
        for (var i = 0; i < _free.Length; i++)
        {
            _free[i] = new Stack<Block>();
        }
    }

    /// <summary>The process's one pool.</summary>
    public static BufferPool Shared { get; } = new();

    /// <summary>Bytes in blocks that are rented out.</summary>
    public long BytesRented => Volatile.Read(ref _rented);

    /// <summary>Bytes that may be resident: rented blocks and returned ones not yet trimmed.</summary>
    public long BytesHeld => Volatile.Read(ref _resident);

    /// <summary>Bytes of address space mapped so far (never shrinks).</summary>
    public long BytesMapped => Volatile.Read(ref _mapped);

    /// <summary>The smallest block size that holds <paramref name="size"/> bytes.</summary>
    public static int BlockSize(int size) =>
        1 << Math.Max(SmallestShift, 32 - int.LeadingZeroCount(Math.Max(1, size) - 1));

    /// <summary>A block of <see cref="BlockSize"/>(<paramref name="size"/>) bytes.</summary>
    public Block Rent(int size)
    {
        var blockSize = BlockSize(size);
        var free = _free[int.Log2(blockSize) - SmallestShift];
        Block? block;
        lock (free)
        {
            if (!free.TryPop(out block))
            {
                Map(blockSize, free);
                block = free.Pop();
            }
        }

        if (block.Trimmed)
        {
            block.Trimmed = false;
            Interlocked.Add(ref _resident, blockSize);
        }

        Interlocked.Add(ref _rented, blockSize);
        return block;
    }

    /// <summary>Takes back a block no thread will touch again.</summary>
    public void Return(Block block)
    {
        Interlocked.Add(ref _rented, -block.Length);
        block.ReturnedAt = Environment.TickCount64;
        var free = _free[int.Log2(block.Length) - SmallestShift];
        lock (free)
        {
            free.Push(block);
        }

        if (Interlocked.Exchange(ref _trimArmed, 1) == 0)
        {
            _trimTimer.Change(IdleMilliseconds, Timeout.Infinite);
        }
    }

    /// <summary>Gives back to the system the pages of blocks returned at least a second ago.</summary>
    /// <returns>Whether returned blocks still hold pages (returned too recently).</returns>
    public bool Trim() => Trim(Environment.TickCount64);

    /// <summary>As <see cref="Trim()"/>, as if the clock (<see cref="Environment.TickCount64"/>) read <paramref name="now"/>.</summary>
    internal bool Trim(long now)
    {
        var waiting = false;
        foreach (var free in _free)
        {
            lock (free)
            {
                foreach (var block in free)
                {
                    if (block.Trimmed)
                    {
                        continue;
                    }

                    if (now - block.ReturnedAt < IdleMilliseconds)
                    {
                        waiting = true;
                        continue;
                    }

                    _ = Madvise(block.Pointer, (nuint)block.Length, MadvDontNeed);
                    block.Trimmed = true;
                    Interlocked.Add(ref _resident, -block.Length);
                }
            }
        }

        return waiting;
    }

    private void TrimAndRearm()
    {
        Volatile.Write(ref _trimArmed, 0);
        if (Trim())
        {
            if (Interlocked.Exchange(ref _trimArmed, 1) == 0)
            {
                _trimTimer.Change(IdleMilliseconds, Timeout.Infinite);
            }
        }
        else if (BytesRented == 0)
        {
            // Every connection is gone: what the work around them left free in the C
            // heap (socket and runtime allocations) goes back to the system too.
            TrimCHeap();
        }
    }

    private static bool _cHeapTrimmable = OperatingSystem.IsLinux();

    private static void TrimCHeap()
    {
        if (!_cHeapTrimmable)
        {
            return;
        }

        try
        {
            _ = MallocTrim(0);
        }
        catch (EntryPointNotFoundException)
        {
            // Not glibc (musl has no malloc_trim).
            _cHeapTrimmable = false;
        }
    }

    private void Map(int blockSize, Stack<Block> free)
    {
        var length = Math.Max(MappingSize, blockSize);
        var start = Mmap(null, (nuint)length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (start == (void*)-1)
        {
            throw new InsufficientMemoryException(
                $"the stack could not map {length} bytes for connection buffers (errno {Marshal.GetLastPInvokeError()}); lower the buffer sizes or the stack's memory limit");
        }

        Interlocked.Add(ref _mapped, length);
        for (var offset = length - blockSize; offset >= 0; offset -= blockSize)
        {
            // Fresh pages are not resident until written: count them as trimmed.
            free.Push(new Block((byte*)start + offset, blockSize) { Trimmed = true });
        }
    }

    /// <summary>One block of the pool, as <see cref="Memory{T}"/>.</summary>
    public sealed class Block : MemoryManager<byte>
    {
        internal Block(byte* pointer, int length)
        {
            Pointer = pointer;
            Length = length;
        }

        internal byte* Pointer { get; }

        internal int Length { get; }

        internal bool Trimmed { get; set; }

        internal long ReturnedAt { get; set; }

        /// <inheritdoc/>
        public override Span<byte> GetSpan() => new(Pointer, Length);

        /// <inheritdoc/>
        public override MemoryHandle Pin(int elementIndex = 0) => new(Pointer + elementIndex);

        /// <inheritdoc/>
        public override void Unpin()
        {
        }

        /// <inheritdoc/>
        protected override void Dispose(bool disposing)
        {
        }
    }

    private const int ProtRead = 1;
    private const int ProtWrite = 2;
    private const int MapPrivate = 2;
    private const int MapAnonymous = 0x20;
    private const int MadvDontNeed = 4;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(void* address, nuint length, int advice);
}
