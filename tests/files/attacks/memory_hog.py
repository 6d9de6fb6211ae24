"""Allocate 4 GiB (and touch it, so it is real memory)."""
try:
    hog = bytearray(4 * 1024 ** 3)
    for index in range(0, len(hog), 4096):
        hog[index] = 1
    print("LEAK allocated 4 GiB")
except MemoryError:
    print("DENIED MemoryError")
hog = None
print("ATTACK-RAN memory_hog")
