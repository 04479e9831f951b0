package store

import "golang.org/x/crypto/bcrypt"

// DecoyCost is the bcrypt cost of the decoy hash made for cost.
func DecoyCost(cost int) (int, error) { return bcrypt.Cost([]byte(decoyHash(cost))) }
