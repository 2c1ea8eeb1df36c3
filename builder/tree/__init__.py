"""The published tree: the collection laid out as one pip index, one CID, one CAR.

Three steps, in this order, so that a reader of `<out>/tree` never sees half a tree:

1. `gather` reads what the pages need from the store (each wheel's METADATA) and finds
   every source file; `layout.plan_tree` turns that into a pure value, path -> source.
2. `write.write_tree` lays the plan out in a fresh hidden directory beside the old tree.
   Files are copies, each hashed on the way in, never links into the store: nothing
   the farm does to the store later can change a tree it has hashed. Equal contents
   inside the tree become hard links to one copy (a pure wheel under every platform).
3. `assemble` computes the root CID from that directory as it is on disk, writes the
   CAR, and only then renames the new tree over the old one.
"""
