"""The four special tokens every vocabulary starts with, by id: what the loss, the batches, the
search and the models need to know of the tokenizer, in a room of their own so that they do not
import it (and SentencePiece and the config with it)."""

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")  # their pieces, in id order
