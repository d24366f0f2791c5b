// placeholder until js/ builds the paywall script
