"""The networks and their parts: encoder g_a, decoder g_s, binarizer and bit model, discriminator."""
