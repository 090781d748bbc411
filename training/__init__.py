"""Training machinery shared by the tokenizer and LM trainers: the loop, schedule, precision,
device choice and atomic checkpoint folders."""
