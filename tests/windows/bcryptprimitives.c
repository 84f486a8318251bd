/* Wine 8 lacks ProcessPrng, which Rust's std (1.78+) imports from bcryptprimitives.dll.
 * This stand-in, placed beside cordon.exe for the Wine tests only, forwards to RtlGenRandom
 * (advapi32's SystemFunction036), the CSPRNG Wine does implement. Never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
