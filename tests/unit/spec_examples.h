/* Byte strings quoted from spec/, shared by the unit tests. */
#ifndef CKPT_SPEC_EXAMPLES_H
#define CKPT_SPEC_EXAMPLES_H

/* spec/index_sstable.md "Worked example": the whole 239-byte .index. */
static const char *const spec_example_index_hex = "0000 0608 011a 0208 0100 0a15 0077 0001"
						  "0102 8082 8082 0803 1208 1202 0802 1202"
						  "0802 200f 2810 35cb d05f b606 0415 8281"
						  "8082 0803 1208 1202 0801 1202 0802 201f"
						  "2808 3570 2be7 6100 010f 6108 0112 0412"
						  "0208 0228 0835 593c e535 0001 0d73 0807"
						  "1200 2008 2807 3509 eb4d 1500 0122 7708"
						  "0312 0812 0208 0312 0208 023a 080a 0210"
						  "020a 0210 023a 0a0a 0408 0210 010a 0210"
						  "0200 0000 0001 0000 0000 315b fd08 0000"
						  "0000 0100 0000 00c0 f2a1 b000 0103 7800"
						  "9901 0000 0000 0100 0000 002c 2d6f 289e"
						  "0108 ab01 0f00 0000 0000 0000 0000 0000"
						  "0000 0000 0000 0000 0000 0000 0000 0000"
						  "0000 0000 0000 0057 fb80 8b24 7547 db";

#endif
